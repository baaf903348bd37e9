/* The field app's service worker (version __VERSION__), served at /sw.js by visits/offline.py.
 *
 * What it does, and nothing else:
 * - static files (content-hashed names, never changed in place): from the phone's store first;
 * - the pages the phone keeps for its cadre (the list static/js/offline.js wrote from the server's
 *   answer: his own households only): from the network when there is signal, stored again as they
 *   arrive; from the store when the network fails or takes longer than a weak signal allows;
 *   a stored page older than the set number of days is dropped, never shown;
 * - any other page without network: the 本机记录 page (it says the page was not kept).
 * Records made offline are not its business: the pages queue and send them (offline.js).
 */
"use strict";
var CONFIG = {{ config|safe }};
var PAGES = "visitplan-pages";
var STATIC = "visitplan-static-__VERSION__"; // a release starts a new one, the old is deleted
var META = "/__offline__/meta";
var WAIT_MS = 5000; // on a weak signal, a kept page is shown from the store after this long

self.addEventListener("install", function (event) {
  event.waitUntil(self.skipWaiting());
});

self.addEventListener("activate", function (event) {
  var old = caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("visitplan-static-") === 0 && name !== STATIC;
    }).map(function (name) { return caches.delete(name); }));
  });
  event.waitUntil(Promise.all([self.clients.claim(), prune(), old]));
});

function readMeta() {
  return caches.open(PAGES).then(function (cache) {
    return cache.match(META).then(function (resp) { return resp ? resp.json() : null; });
  }).catch(function () { return null; });
}

function keyOf(url) { return url.pathname + url.search; }

function fresh(resp) {
  var at = parseInt((resp && resp.headers.get("X-Kept-At")) || "0", 10);
  return !!at && Date.now() - at <= CONFIG.keepMs;
}

// Drop the pages past their days (and everything when the list itself is past them).
function prune() {
  return caches.open(PAGES).then(function (cache) {
    return cache.keys().then(function (requests) {
      return Promise.all(requests.map(function (request) {
        return cache.match(request).then(function (resp) {
          if (!fresh(resp)) return cache.delete(request);
          return null;
        });
      }));
    });
  }).catch(function () { return null; });
}

// Pages are kept gzipped where the browser can (static/js/offline-keep.js, and keep() below).
function unpack(resp) {
  if (resp.headers.get("X-Kept-Encoding") !== "gzip") return resp;
  var headers = new Headers(resp.headers);
  headers.delete("X-Kept-Encoding");
  headers.delete("Content-Length");
  var body = resp.body.pipeThrough(new DecompressionStream("gzip"));
  return new Response(body, { status: resp.status, statusText: resp.statusText, headers: headers });
}

function fromStore(key) {
  return caches.open(PAGES).then(function (cache) {
    return cache.match(key).then(function (resp) {
      if (!resp) return null;
      if (!fresh(resp)) { cache.delete(key); return null; }
      return unpack(resp);
    });
  });
}

function keep(key, resp) {
  var headers = new Headers(resp.headers);
  headers.delete("Content-Length");
  headers.set("X-Kept-At", String(Date.now()));
  var body = resp.body;
  if (self.CompressionStream && body) {
    body = body.pipeThrough(new CompressionStream("gzip"));
    headers.set("X-Kept-Encoding", "gzip");
  }
  return new Response(body, { status: resp.status, statusText: resp.statusText, headers: headers }).blob().then(function (packed) {
    return caches.open(PAGES).then(function (cache) {
      return cache.put(key, new Response(packed, { status: resp.status, statusText: resp.statusText, headers: headers }));
    });
  });
}

function storable(resp) {
  var type = resp.headers.get("Content-Type") || "";
  return resp.ok && !resp.redirected && resp.type === "basic" && type.indexOf("text/html") === 0;
}

function notKeptPage() {
  return fromStore(CONFIG.offline).then(function (page) {
    if (page) return page;
    var html = "<!doctype html><html lang=\"zh-Hans\"><meta charset=\"utf-8\">" +
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>没有网络</title>" +
      "<body style=\"font-family:sans-serif;padding:1.5rem;line-height:1.6\"><h1>没有网络</h1>" +
      "<p>这个页面没有保存在本机。联网后再打开；在有信号的地方打开“我的包户”，本机会保存您包户的页面。</p></body></html>";
    return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
  });
}

function page(request, url) {
  var key = keyOf(url);
  return readMeta().then(function (meta) {
    var kept = !!(meta && meta.pages && meta.pages.indexOf(key) >= 0);
    var network = fetch(request).then(function (resp) {
      if (kept && storable(resp)) return keep(key, resp.clone()).then(function () { return resp; }, function () { return resp; });
      return resp;
    });
    if (!kept) {
      return network.catch(function () {
        return request.mode === "navigate" ? notKeptPage() : Response.error();
      });
    }
    // A kept page: the network's answer if it comes in time, else the stored one (the network's
    // answer still replaces it in the store when it arrives).
    return new Promise(function (resolve) {
      var done = false;
      function give(resp) { if (!done && resp) { done = true; resolve(resp); } }
      function stored() {
        return fromStore(key).then(function (hit) { return hit; }, function () { return null; });
      }
      var timer = setTimeout(function () { stored().then(give); }, WAIT_MS);
      network.then(function (resp) {
        clearTimeout(timer);
        // The server is restarting (502/503/504 from nginx during an upgrade): the kept copy.
        if (resp.status >= 500) stored().then(function (hit) { give(hit || resp); });
        else give(resp);
      }, function () {
        clearTimeout(timer);
        stored().then(function (hit) { if (hit) give(hit); else notKeptPage().then(give); });
      });
    });
  });
}

function staticFile(request) {
  return caches.open(STATIC).then(function (cache) {
    return cache.match(request).then(function (hit) {
      if (hit) return hit;
      return fetch(request).then(function (resp) {
        if (resp.ok && resp.type === "basic") cache.put(request, resp.clone());
        return resp;
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf(CONFIG.static) === 0) {
    event.respondWith(staticFile(request));
  } else if (request.mode === "navigate") {
    event.respondWith(page(request, url));
  }
});
