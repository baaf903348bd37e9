/* Keeping the cadre's pages on the phone (the field app; static/js/offline.js is the rest of it).
 *
 * Loaded by 我的包户 and 本机记录 only. Keeps the pages the server lists at state.json (his own
 * households: the list, each household page, its visit and 回头看 forms) in Cache Storage
 * "visitplan-pages", each stamped with the time it was kept; the service worker /sw.js shows them
 * when there is no signal and drops them after the set days. Kept again when 我的包户 opens with
 * signal and the last keeping is older than half an hour, or on 更新本机页面 (本机记录).
 */
(function () {
  "use strict";
  var api = window.VisitplanOffline;
  if (!api || !api._) return;
  var h = api._;
  var PAGES = h.PAGES;
  var META = h.META;
  var staticUrl = h.staticUrl;
  var getLocal = h.getLocal;
  var setLocal = h.setLocal;
  var freshState = h.freshState;
  var KEEP_EVERY_MS = 30 * 60 * 1000;
  var user = api.user();

  function keepPages(force, progress) {
    if (!user || !window.caches || navigator.onLine === false) return Promise.resolve(null);
    var last = getLocal("visitplan-kept:" + user, 0);
    if (!force && Date.now() - last < KEEP_EVERY_MS) return Promise.resolve(null);
    return freshState().then(function (state) {
      if (!state || state.expired || String(state.user) !== user) return null;
      return caches.open(PAGES).then(function (cache) {
        return cache.match(META).then(function (r) { return r ? r.json() : null; }).catch(function () { return null; })
          .then(function (before) { return keepInto(cache, state, before, progress); });
      });
    }).catch(function () { return null; });
  }

  // Fetch the pages the server lists into the store, except those whose fingerprint (the
  // server's ``stamps``) is the one already kept: only what changed crosses a weak signal.
  // The list is written first (the worker keeps only pages on it) with the fingerprints of the
  // pages kept before; each page's new fingerprint is written once the page itself is stored, so
  // a keeping cut short by the signal fetches the rest next time.
  function keepInto(cache, state, before, progress) {
    var keptAt = String(Date.now());
    var wanted = {};
    state.pages.forEach(function (p) { wanted[p] = true; });
    var stamps = state.stamps || {};
    var same = before && String(before.user) === user;
    var oldStamps = (same && before.stamps) || {};
    var sizes = {};
    var keptStamps = {};
    var statics = {};
    var fetched = 0;
    var done = 0;
    var fetchedBytes = 0;
    function writeMeta() {
      var body = JSON.stringify({ user: user, pages: state.pages, stamps: keptStamps, sizes: sizes, keptAt: Date.now(), days: state.days });
      return cache.put(META, new Response(body, { headers: { "Content-Type": "application/json", "X-Kept-At": keptAt } }));
    }
    function unchanged(path) {
      if (!stamps[path] || oldStamps[path] !== stamps[path]) return Promise.resolve(false);
      return cache.match(path).then(function (hit) {
        var at = parseInt((hit && hit.headers.get("X-Kept-At")) || "0", 10);
        return !!at && Date.now() - at < (state.days || 7) * 86400000 / 2;
      });
    }
    function fetchOne(path) {
      return fetch(path, { credentials: "same-origin", redirect: "manual" }).then(function (resp) {
        var type = resp.headers.get("Content-Type") || "";
        if (!resp.ok || resp.type !== "basic" || type.indexOf("text/html") !== 0) return null;
        return resp.blob().then(function (body) {
          return body.text().then(function (html) {
            var re = /(?:src|href)="([^"]+)"/g;
            var m;
            while ((m = re.exec(html))) if (m[1].indexOf(staticUrl) === 0) statics[m[1]] = true;
            return pack(body);
          }).then(function (kept) {
            var headers = new Headers(resp.headers);
            headers.delete("Content-Length");
            headers.set("X-Kept-At", keptAt);
            if (kept.gzip) headers.set("X-Kept-Encoding", "gzip");
            return cache.put(path, new Response(kept.body, { status: resp.status, statusText: resp.statusText, headers: headers }))
              .then(function () { return kept.body.size; });
          }).then(function (stored) {
            fetchedBytes += body.size;
            sizes[path] = stored;
            if (stamps[path]) keptStamps[path] = stamps[path];
          });
        });
      }).catch(function () { return null; });
    }
    function one(path) {
      return unchanged(path).then(function (keep) {
        if (keep) {
          keptStamps[path] = stamps[path];
          sizes[path] = ((same && before.sizes) || {})[path] || 0;
          return null;
        }
        fetched += 1;
        return fetchOne(path);
      }).then(function () {
        done += 1;
        if (progress) progress(done, state.pages.length);
        // What is kept so far is written down now and then: leaving the page halfway through a
        // keeping on a weak signal does not make the next one start again from nothing.
        if (done % 25 === 0) return writeMeta();
        return null;
      });
    }
    state.pages.forEach(function (p) {
      if (oldStamps[p] && oldStamps[p] === stamps[p]) keptStamps[p] = oldStamps[p];
      if (same && before.sizes && before.sizes[p]) sizes[p] = before.sizes[p];
    });
    return writeMeta()
      .then(function () { return cache.keys(); })
      .then(function (requests) {
        // Pages no longer on the list (a household reassigned) leave the phone.
        return Promise.all(requests.map(function (r) {
          var u = new URL(r.url);
          var key = u.pathname + u.search;
          return key === META || wanted[key] ? null : cache.delete(r);
        }));
      })
      .then(function () {
        var queue = state.pages.slice();
        function worker() {
          var next = queue.shift();
          return next === undefined ? null : one(next).then(worker);
        }
        return Promise.all([worker(), worker(), worker()]);
      })
      .then(function () {
        // The styles and scripts the pages name: fetched through the worker, which keeps them.
        return Promise.all(Object.keys(statics).map(function (u) {
          return fetch(u, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.blob() : null; }, function () { return null; });
        }));
      })
      .then(writeMeta)
      .then(function () {
        setLocal("visitplan-kept:" + user, Date.now());
        var stored = 0;
        Object.keys(sizes).forEach(function (p) { stored += sizes[p]; });
        var summary = { pages: state.pages.length, fetched: fetched, bytes: stored, fetchedBytes: fetchedBytes,
                        at: new Date().toISOString(), days: state.days };
        setLocal("visitplan-kept-summary:" + user, summary);
        return summary;
      });
  }

  // A kept page is stored gzipped where the browser can (about a fifth of its size: 200 households'
  // pages are some 1.2 MB instead of 5.8 MB); the service worker unpacks it when it shows it.
  function pack(body) {
    if (!window.CompressionStream || !body.stream) return Promise.resolve({ body: body, gzip: false });
    return new Response(body.stream().pipeThrough(new CompressionStream("gzip"))).blob()
      .then(function (packed) { return { body: packed, gzip: true }; }, function () { return { body: body, gzip: false }; });
  }

  api.keepPages = keepPages;
  // 我的包户 keeps the pages once the script is here (on a weak signal it arrives after the
  // every-page script has started: it starts the keeping itself).
  if (document.body.hasAttribute("data-keep-pages")) (api.ready || Promise.resolve()).then(function () { return keepPages(false); });
})();
