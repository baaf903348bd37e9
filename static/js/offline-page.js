/* 本机记录 (visits/offline.html): what waits on this phone, what the server refused and why, what was
 * sent, and the pages kept; everything comes from the phone's own store through static/js/offline.js. */
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function size(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function start() {
    var api = window.VisitplanOffline;
    if (!api) return;
    var here = document.body.getAttribute("data-offline-page");
    if (here && window.location.pathname !== here) $("[data-not-kept]").hidden = false;

    function row(r, refused) {
      var li = el("li", refused ? "offline-refused" : "offline-waiting");
      li.appendChild(el("strong", "", r.kind + " · " + r.label));
      li.appendChild(el("div", "muted small", api.when(r.recordedAt) + " 记录" + (r.note && !refused ? " · " + r.note : "")));
      if (refused) {
        li.appendChild(el("p", "error", r.message));
        (r.errors || []).slice(0, 6).forEach(function (e) {
          li.appendChild(el("div", "small", (e.label ? e.label + "：" : "") + e.message));
        });
        var actions = el("div", "row-actions");
        var fix = el("button", "btn small", "修改");
        fix.type = "button";
        fix.addEventListener("click", function () {
          // Back into the form as its draft (the form offers to restore it), out of the queue.
          try { window.localStorage.setItem("visitplan-draft:" + r.draft.replace(/^visitplan-draft:/, ""), JSON.stringify({ savedAt: r.recordedAt, fields: r.fields })); } catch (e) { return; }
          api.drop(r.key).then(function () { window.location.assign(r.url); });
        });
        var discard = el("button", "btn small danger", "放弃");
        discard.type = "button";
        discard.addEventListener("click", function () {
          if (window.confirm("放弃这条记录？放弃后无法找回。")) api.drop(r.key);
        });
        actions.appendChild(fix);
        actions.appendChild(discard);
        li.appendChild(actions);
      }
      return li;
    }

    function paint(rows) {
      var waiting = rows.filter(function (r) { return r.status !== "refused"; });
      var refused = rows.filter(function (r) { return r.status === "refused"; });
      var w = $("[data-waiting]");
      w.textContent = "";
      waiting.forEach(function (r) { w.appendChild(row(r, false)); });
      if (!waiting.length) w.appendChild(el("li", "muted empty-line", "没有待上传的记录"));
      $("[data-count-waiting]").textContent = waiting.length + " 条";
      var f = $("[data-refused]");
      f.textContent = "";
      refused.forEach(function (r) { f.appendChild(row(r, true)); });
      $("[data-count-refused]").textContent = refused.length + " 条";
      $("[data-refused-card]").hidden = !refused.length;
      var s = $("[data-sent]");
      var sent = api.sent();
      s.textContent = "";
      sent.forEach(function (x) {
        var li = el("li", "offline-sent");
        li.appendChild(el("strong", "", x.kind + " · " + x.label));
        li.appendChild(el("div", "muted small", api.when(x.recordedAt) + " 记录，" + api.when(x.sentAt) + (x.created ? " 上传" : " 上传（此前已保存，未重复保存）")));
        if (x.note) li.appendChild(el("div", "small", x.note));
        s.appendChild(li);
      });
      if (!sent.length) s.appendChild(el("li", "muted empty-line", "本机还没有上传过记录"));
      var kept = api.keptSummary();
      if (kept) {
        $("[data-kept-summary]").textContent = "已保存 " + kept.pages + " 个页面（约 " + size(kept.bytes) + "），更新于 " + api.when(kept.at) + "。";
      }
    }

    document.addEventListener("visitplan:offline-changed", function (e) { paint(e.detail.rows); });
    api.records().then(paint);
    $("[data-sync-now]").addEventListener("click", function () {
      if (navigator.onLine === false) { var n = $("[data-offline-note]"); n.textContent = "现在没有网络，有信号时会自动上传。"; n.hidden = false; return; }
      api.sync();
    });
    var progress = $("[data-keep-progress]");
    $("[data-keep-now]").addEventListener("click", function () {
      if (navigator.onLine === false) { progress.textContent = "现在没有网络，无法更新。"; return; }
      progress.textContent = "正在保存…";
      api.keepPages(true, function (done, total) { progress.textContent = "正在保存 " + done + " / " + total + " 个页面…"; })
        .then(function (summary) {
          progress.textContent = summary ? "已保存 " + summary.pages + " 个页面。" : "未能保存，请稍后再试。";
          api.records().then(paint);
        });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
