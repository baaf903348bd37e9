/* The field app without signal (离线走访) on every page: the record queue (IndexedDB), sending it, the
 * header's count, logout. Kept pages: offline-keep.js; the worker: /sw.js; the server: visits/offline.py.
 * The whole design: docs/decisions/0015-offline-field-app.md (comments here are short: every page loads it). */
(function () {
  "use strict";
  var PAGES = "visitplan-pages";
  var META = "/__offline__/meta";
  var DB_NAME = "visitplan-offline";
  var SENT_KEEP = 20;

  var meta = document.querySelector('meta[name="visitplan-user"]');
  var user = meta ? meta.content : "";
  var stateUrl = meta ? meta.getAttribute("data-state") : "";
  var offlineUrl = meta ? meta.getAttribute("data-offline") : "";
  var staticUrl = (meta && meta.getAttribute("data-static")) || "/static/";
  var local = (function () { try { return window.localStorage; } catch (e) { return null; } })();
  var session = (function () { try { return window.sessionStorage; } catch (e) { return null; } })();

  function $(sel, root) { return (root || document).querySelector(sel); }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function getLocal(name, fallback) {
    if (!local) return fallback;
    try { var v = JSON.parse(local.getItem(name) || "null"); return v === null ? fallback : v; } catch (e) { return fallback; }
  }
  function setLocal(name, value) { if (local) try { local.setItem(name, JSON.stringify(value)); } catch (e) { /* full */ } }

  // ------------------------------------------------------------------------------------ the store
  var dbPromise = null;
  function db() {
    if (!window.indexedDB) return Promise.reject(new Error("no IndexedDB"));
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = function () {
          var store = open.result.createObjectStore("records", { keyPath: "key" });
          store.createIndex("user", "user");
        };
        open.onsuccess = function () { resolve(open.result); };
        open.onerror = function () { reject(open.error); };
      });
    }
    return dbPromise;
  }
  function tx(mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction("records", mode);
        var result = work(t.objectStore("records"));
        t.oncomplete = function () { resolve(result && "result" in result ? result.result : result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  function mine() {
    return tx("readonly", function (s) { return s.index("user").getAll(user); }).then(function (rows) {
      return (rows || []).sort(function (a, b) { return a.recordedAt < b.recordedAt ? -1 : 1; });
    }, function () { return []; });
  }
  function put(record) { return tx("readwrite", function (s) { s.put(record); }); }
  function drop(key) { return tx("readwrite", function (s) { s.delete(key); }); }

  // ------------------------------------------------------------------------------------ the header
  var indicator = null;
  var syncing = false;
  var lastSent = [];
  function sentLog() { return getLocal("visitplan-sent:" + user, []); }
  function paint() {
    if (!user) return Promise.resolve();
    return mine().then(function (rows) {
      var waiting = rows.filter(function (r) { return r.status !== "refused"; }).length;
      var refused = rows.length - waiting;
      var tools = $(".topbar .tools");
      if (!tools) return rows;
      if (!indicator) {
        indicator = document.createElement("a");
        indicator.className = "bell sync-state";
        indicator.href = offlineUrl;
        indicator.setAttribute("data-sync-state", "");
        indicator.setAttribute("aria-live", "polite");
        tools.insertBefore(indicator, tools.firstChild);
      }
      var text = "";
      var cls = "bell sync-state";
      if (syncing) { text = "正在上传…"; cls += " busy"; }
      else if (refused) { text = refused + " 条未通过"; cls += " bad"; }
      else if (waiting) { text = "待上传 " + waiting + " 条"; cls += " waiting"; }
      else if (lastSent.length) { text = "已上传 " + lastSent.length + " 条"; cls += " ok"; }
      if (refused && waiting && !syncing) text += "，待上传 " + waiting + " 条";
      indicator.textContent = text;
      indicator.className = cls;
      indicator.hidden = !text;
      indicator.setAttribute("data-n-waiting", String(waiting));
      indicator.setAttribute("data-n-refused", String(refused));
      setLocal("visitplan-records:" + user, rows.length);
      showHere(rows);
      document.dispatchEvent(new CustomEvent("visitplan:offline-changed", { detail: { rows: rows } }));
      return rows;
    });
  }

  // A household page lists what waits on the phone for that household; 我的包户 marks its row.
  function showHere(rows) {
    Array.prototype.forEach.call(document.querySelectorAll(".hh-list a[data-offline-mark]"), function (a) {
      a.removeAttribute("data-offline-mark");
      var old = a.querySelector(".mark-offline");
      if (old) old.remove();
    });
    rows.forEach(function (r) {
      Array.prototype.forEach.call(document.querySelectorAll('.hh-list a[href="' + r.householdUrl + '"]'), function (a) {
        if (a.hasAttribute("data-offline-mark")) return;
        a.setAttribute("data-offline-mark", "");
        var mark = document.createElement("span");
        mark.className = "mark mark-offline";
        mark.textContent = r.status === "refused" ? "未通过" : "待上传";
        (a.querySelector(".hh-meta") || a).appendChild(mark);
      });
    });
    var box = $("[data-offline-household]");
    if (!box) return;
    var here = rows.filter(function (r) { return r.householdUrl === window.location.pathname; });
    var list = $("[data-offline-list]", box);
    list.textContent = "";
    here.forEach(function (r) {
      var li = document.createElement("li");
      li.className = r.status === "refused" ? "offline-refused" : "offline-waiting";
      var head = document.createElement("strong");
      head.textContent = r.kind + "记录 · " + when(r.recordedAt) + " 记录";
      var state = document.createElement("span");
      state.className = "muted";
      state.textContent = r.status === "refused" ? "　未通过：" + r.message : "　待上传";
      li.appendChild(head);
      li.appendChild(state);
      list.appendChild(li);
    });
    box.hidden = !here.length;
  }

  // ------------------------------------------------------------------------------------ sending
  function freshState() {
    return fetch(stateUrl, { credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (resp.type === "opaqueredirect" || resp.status === 401 || resp.status === 403) return { expired: true };
        if (!resp.ok) return null;
        return resp.json();
      });
  }

  function sendOne(record, csrf) {
    var body = new FormData();
    record.fields.forEach(function (f) { body.append(f[0], f[1]); });
    body.append("csrfmiddlewaretoken", csrf);
    return fetch(record.url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-Requested-With": "fetch", "X-Offline-Sync": "1", "X-Recorded-At": record.recordedAt }
    }).then(function (resp) {
      if (resp.type === "opaqueredirect") return { stop: "登录已过期：请重新登录，记录会自动上传。" };
      var type = resp.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") < 0) {
        record.note = "服务器暂时无法接收（" + resp.status + "），稍后自动重试。";
        return put(record).then(function () { return { stop: record.note }; });
      }
      return resp.json().then(function (data) {
        if (data.ok) {
          var log = sentLog();
          log.unshift({ label: record.label, kind: record.kind, recordedAt: record.recordedAt, sentAt: new Date().toISOString(),
                        created: data.created !== false, note: data.note || "", url: data.redirect || "" });
          setLocal("visitplan-sent:" + user, log.slice(0, SENT_KEEP));
          lastSent.push(record.key);
          return drop(record.key).then(function () { return { sent: true }; });
        }
        record.status = "refused";
        record.message = data.message || "服务器未接收这条记录";
        record.errors = data.errors || [];
        record.answeredAt = new Date().toISOString();
        return put(record).then(function () { return { refused: true }; });
      });
    });
  }

  function syncNow() {
    if (!user || syncing || navigator.onLine === false) return Promise.resolve();
    return mine().then(function (rows) {
      var pending = rows.filter(function (r) { return r.status !== "refused"; });
      if (!pending.length) return null;
      syncing = true;
      paint();
      return freshState().then(function (state) {
        if (!state) return null;
        if (state.expired) { note("登录已过期：请重新登录，本机 " + pending.length + " 条记录会自动上传。"); return null; }
        if (String(state.user) !== user) return null;
        var chain = Promise.resolve();
        var stopped = false;
        pending.forEach(function (record) {
          chain = chain.then(function () {
            if (stopped) return null;
            return sendOne(record, state.csrf).then(function (result) {
              if (result && result.stop) { stopped = true; note(result.stop); }
            });
          });
        });
        return chain;
      });
    }).catch(function () { /* the network went again: the records wait */ }).then(function () {
      syncing = false;
      return paint();
    });
  }
  function sync() {
    if (navigator.locks && navigator.locks.request) {
      // One tab sends at a time (two tabs would send the same keys: the server saves once anyway).
      return navigator.locks.request("visitplan-sync", { ifAvailable: true }, function (lock) { return lock ? syncNow() : null; });
    }
    return syncNow();
  }

  function note(text) {
    var box = $("[data-offline-note]");
    if (box) { box.textContent = text; box.hidden = false; }
  }

  // ------------------------------------------------------------------------------------ recording
  function enqueue(record) {
    record.user = user;
    record.status = "pending";
    record.recordedAt = record.recordedAt || new Date().toISOString();
    return put(record).then(function () {
      if (session) session.setItem("visitplan-flash", "已保存在本机（" + record.label + "），有信号时自动上传。");
      return paint();
    });
  }

  // ------------------------------------------------------------------------------------ leaving
  function clearDevice(allRecords) {
    var jobs = [];
    if (window.caches) jobs.push(caches.delete(PAGES));
    if (local) {
      Object.keys(local).forEach(function (k) {
        if (/^visitplan-(draft:|kept|sent:|records:)/.test(k)) local.removeItem(k);
      });
    }
    if (allRecords && user) {
      jobs.push(mine().then(function (rows) { return Promise.all(rows.map(function (r) { return drop(r.key); })); }));
    }
    return Promise.all(jobs).catch(function () { return null; });
  }

  // Logging out: the phone keeps nothing of this user. Without records waiting the logout goes at
  // once (the kept pages and drafts are dropped on the way, and again by the login page); with
  // records waiting it asks first (a synchronous confirm), then drops them and logs out.
  function wireLogout() {
    var form = $("form[data-logout]");
    if (!form) return;
    var confirmed = false;
    form.addEventListener("submit", function (e) {
      if (confirmed) return;
      var waiting = getLocal("visitplan-records:" + user, 0);
      if (waiting && !window.confirm("本机还有 " + waiting + " 条记录没有上传。退出登录会从本机删除它们。\n仍要退出吗？")) {
        e.preventDefault();
        return;
      }
      if (!waiting) { clearDevice(false); return; }
      e.preventDefault();
      clearDevice(true).then(function () { confirmed = true; form.submit(); });
    });
  }

  // ------------------------------------------------------------------------------------ start
  function start() {
    if (!user) {
      // Logged out (or the session ended): the pages kept for whoever was here go; records stay
      // until their own user logs in again and sends them.
      if (window.caches) caches.delete(PAGES);
      return;
    }
    var previous = getLocal("visitplan-user", null);
    if (previous !== null && String(previous) !== user) clearDevice(false);
    setLocal("visitplan-user", user);
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { return null; });
    }
    var flash = session && session.getItem("visitplan-flash");
    if (flash) {
      session.removeItem("visitplan-flash");
      var main = $("main.page");
      if (main) {
        var box = document.createElement("ul");
        box.className = "messages";
        box.setAttribute("role", "status");
        box.innerHTML = '<li class="msg info"></li>';
        box.firstChild.textContent = flash;
        main.insertBefore(box, main.firstChild);
      }
    }
    wireLogout();
    // Records are sent first; then static/js/offline-keep.js (我的包户, 本机记录) keeps the pages.
    window.VisitplanOffline.ready = paint().then(function () { return sync(); });
    window.addEventListener("online", function () { sync(); });
    // A server that answered 502 a minute ago may answer now: try again while records wait.
    setInterval(function () { if (navigator.onLine !== false) sync(); }, 60000);
  }

  window.VisitplanOffline = {
    enqueue: enqueue,
    records: mine,
    drop: function (key) { return drop(key).then(paint); },
    put: function (record) { return put(record).then(paint); },
    sync: sync,
    // The helpers static/js/offline-keep.js builds on.
    _: { freshState: freshState, getLocal: getLocal, setLocal: setLocal, PAGES: PAGES, META: META, staticUrl: staticUrl },
    sent: sentLog,
    keptSummary: function () { return getLocal("visitplan-kept-summary:" + user, null); },
    when: when,
    user: function () { return user; }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
