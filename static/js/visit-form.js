/* The visit and follow-up forms on a poor connection (no framework, no build step).
 *
 * - Everything typed is kept in localStorage as a draft (with the form's submit key) while typing.
 * - Submitting goes through fetch: a lost connection, a timeout or a server error keeps the page and
 *   the draft and offers "重新提交"; the same key goes again, so the server saves once.
 * - Opening the form again with a draft in store offers to restore it (key included: a submit whose
 *   answer was lost may have been saved, and the server then says so instead of saving twice).
 * - Issue rows of the formset are added and removed here; 未遇 hides what a failed attempt lacks;
 *   the visit length is shown as the times are typed, with the reason field when it is too short.
 * - Times are typed as 24-hour text ("1430", "14：30" become "14:30", as the server reads them:
 *   visits.forms.parse_24h_time); a phone's 12-hour time picker is not used.
 * - The banners are put where the eye is: the error summary (each error a link that moves the focus
 *   to its field) and the "restore the draft?" banner are scrolled to and focused.
 * Without JavaScript the form posts as a plain form and the server does the same checks.
 */
(function () {
  "use strict";
  var TIMEOUT_MS = 30000;
  var DRAFT_PREFIX = "visitplan-draft:";

  function $(root, sel) { return root.querySelector(sel); }
  function $$(root, sel) { return Array.prototype.slice.call(root.querySelectorAll(sel)); }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function nowHM() { var d = new Date(); return pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  // "14:30", "14：30", "14.30", "1430", "930" → "14:30"; null for anything else (as visits.forms.parse_24h_time).
  function hhmm(v) {
    var text = String(v || "").trim().replace(/[：:.。,，\s]+/g, ":").replace(/^:+|:+$/g, "");
    if (/^\d{3,4}$/.test(text)) text = text.slice(0, -2) + ":" + text.slice(-2);
    var p = /^(\d{1,2}):(\d{2})(?::00)?$/.exec(text);
    if (!p || +p[1] > 23 || +p[2] > 59) return null;
    return pad(+p[1]) + ":" + p[2];
  }
  function minutes(v) { var t = hhmm(v); return t ? (+t.slice(0, 2)) * 60 + (+t.slice(3)) : null; }
  function isTime(el) { return !!(el && el.hasAttribute && el.hasAttribute("data-time")); }
  // Move the eye and the focus to a banner or a field: centred, so the sticky top bar hides nothing.
  function bringIntoView(el) {
    if (!el) return;
    if (!el.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(el.tagName)) el.setAttribute("tabindex", "-1");
    el.scrollIntoView({ block: "center" });
    try { el.focus({ preventScroll: true }); } catch (e) { el.focus(); }
  }

  function store() { try { return window.localStorage; } catch (e) { return null; } }

  function init(form) {
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var draftName = DRAFT_PREFIX + form.dataset.draft;
    var submitBtn = $(form, "[data-submit]");
    var submitLabel = submitBtn ? submitBtn.textContent : "";
    var busy = false;

    // ---- issue rows (Django formset "issues") ------------------------------------------------
    var rows = $(form, "[data-rows]");
    var template = $(form, "[data-row-template]");
    var total = $(form, 'input[name="issues-TOTAL_FORMS"]');
    function renumber() {
      var n = 0;
      $$(rows, "[data-row]").forEach(function (row) {
        if (row.hidden) return;
        n += 1;
        var no = $(row, "[data-row-no]");
        if (no) no.textContent = n;
      });
    }
    function wireRow(row) {
      var spot = $(row, 'input[name$="-on_the_spot"]');
      var answer = $(row, ".spot-answer");
      function toggle() { if (answer) answer.hidden = !(spot && spot.checked); }
      if (spot) spot.addEventListener("change", toggle);
      toggle();
      var remove = $(row, "[data-remove-row]");
      if (remove) remove.addEventListener("click", function () {
        var del = $(row, 'input[name$="-DELETE"]');
        if (del) del.checked = true;
        row.hidden = true;
        renumber();
        saveDraft();
      });
    }
    function addRow() {
      if (!rows || !template || !total) return null;
      var index = parseInt(total.value, 10) || 0;
      var html = template.innerHTML.replace(/__prefix__/g, String(index)).replace(/__no__/g, String(index + 1));
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var row = holder.firstElementChild;
      rows.appendChild(row);
      total.value = String(index + 1);
      wireRow(row);
      renumber();
      return row;
    }
    if (rows) $$(rows, "[data-row]").forEach(wireRow);
    var addBtn = $(form, "[data-add-row]");
    if (addBtn) addBtn.addEventListener("click", function () {
      var row = addRow();
      if (row) { var t = $(row, "textarea"); if (t) t.focus(); }
    });

    // ---- method, times, length ---------------------------------------------------------------
    var timed = (form.dataset.timed || "").split(" ");
    var minMinutes = parseInt(form.dataset.minMinutes || "0", 10);
    var durationNote = $(form, "[data-duration]");
    var durationHint = durationNote ? durationNote.textContent : "";
    var reasonBox = $(form, "[data-short-reason]");
    function serverError(name) {
      var input = $(form, '[name="' + name + '"]');
      var field = input ? input.closest(".field") : null;
      return !!(field && field.querySelector(".error"));
    }
    function method() { var r = $(form, 'input[name="method"]:checked'); return r ? r.value : ""; }
    function refresh() {
      var m = method();
      form.classList.toggle("is-not-home", m === "not_home");
      if (!durationNote) return;
      var start = minutes(($(form, 'input[name="started_at"]') || {}).value);
      var end = minutes(($(form, 'input[name="ended_at"]') || {}).value);
      var isTimed = timed.indexOf(m) >= 0;
      var short = false;
      if (start !== null && end !== null) {
        var d = end - start;
        if (d < 0 && serverError("ended_at")) {
          // The server's message under 结束时间 already says it: not a second time here.
          durationNote.textContent = durationHint;
          durationNote.className = "duration";
        } else if (d < 0) {
          durationNote.textContent = "结束时间早于开始时间";
          durationNote.className = "duration bad";
        } else {
          short = isTimed && d < minMinutes;
          durationNote.textContent = "时长 " + d + " 分钟" + (short ? "，不足 " + minMinutes + " 分钟，请填写原因" : "");
          durationNote.className = "duration" + (short ? " warn" : " ok");
        }
      }
      var reason = reasonBox ? $(reasonBox, "input") : null;
      if (reasonBox) reasonBox.hidden = !(short || (reason && reason.value) || reasonBox.querySelector(".error"));
    }
    function clearServerError() {
      // What the server said of the times no longer holds once one is changed: the live note takes over.
      $$(form, "[data-time]").forEach(function (el) {
        var field = el.closest(".field");
        if (!field) return;
        field.classList.remove("has-error");
        $$(field, ".error").forEach(function (p) { p.remove(); });
      });
    }
    form.addEventListener("change", function (e) {
      if (isTime(e.target)) {
        var t = hhmm(e.target.value);
        if (t) e.target.value = t;
      }
      refresh();
    });
    form.addEventListener("input", function (e) { if (isTime(e.target)) { clearServerError(); refresh(); } });
    $$(form, "[data-now]").forEach(function (b) {
      b.addEventListener("click", function () {
        var input = $(form, 'input[name="' + b.dataset.now + '"]');
        if (input) { input.value = nowHM(); clearServerError(); refresh(); saveDraft(); }
      });
    });
    refresh();

    // ---- the draft -----------------------------------------------------------------------------
    var saveTimer = null;
    function serialise() {
      var fields = [];
      $$(form, "input, textarea, select").forEach(function (el) {
        if (!el.name || el.name === "csrfmiddlewaretoken" || el.type === "submit" || el.type === "button") return;
        if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
        fields.push([el.name, el.value]);
      });
      return { savedAt: new Date().toISOString(), fields: fields };
    }
    function saveDraft() {
      var s = store();
      if (!s) return;
      try { s.setItem(draftName, JSON.stringify(serialise())); } catch (e) { /* storage full: keep going */ }
    }
    function saveSoon() { clearTimeout(saveTimer); saveTimer = setTimeout(saveDraft, 300); }
    function readDraft() {
      var s = store();
      if (!s) return null;
      try { return JSON.parse(s.getItem(draftName) || "null"); } catch (e) { return null; }
    }
    function dropDraft() { var s = store(); if (s) s.removeItem(draftName); }
    function restore(draft) {
      var values = {};
      draft.fields.forEach(function (f) { (values[f[0]] = values[f[0]] || []).push(f[1]); });
      var wanted = parseInt((values["issues-TOTAL_FORMS"] || ["0"])[0], 10) || 0;
      while (total && (parseInt(total.value, 10) || 0) < wanted) addRow();
      $$(form, "input, textarea, select").forEach(function (el) {
        if (!el.name || el.name === "csrfmiddlewaretoken" || el.name === "issues-TOTAL_FORMS") return;
        var v = values[el.name];
        if (el.type === "checkbox" || el.type === "radio") {
          el.checked = !!v && v.indexOf(el.value) >= 0;
        } else if (el.type !== "submit" && el.type !== "button") {
          el.value = v ? v[0] : "";
        }
      });
      $$(form, "[data-row]").forEach(function (row) {
        var del = $(row, 'input[name$="-DELETE"]');
        row.hidden = !!(del && del.checked);
        var spot = $(row, 'input[name$="-on_the_spot"]');
        var answer = $(row, ".spot-answer");
        if (answer) answer.hidden = !(spot && spot.checked);
      });
      renumber();
      refresh();
    }
    form.addEventListener("input", saveSoon);
    form.addEventListener("change", saveSoon);

    var banner = $(form, "[data-draft-banner]");
    var draft = readDraft();
    var keyInput = $(form, 'input[name="key"]');
    var summary = $(form, "[data-error-summary]");
    var hasErrors = !!summary;
    if (summary) {
      $$(summary, "[data-error-link]").forEach(function (a) {
        a.addEventListener("click", function (e) {
          var id = decodeURIComponent((a.getAttribute("href") || "").slice(1));
          var target = document.getElementById(id);
          if (!target) return;
          e.preventDefault();
          var box = target.closest("[hidden]");
          if (box) box.hidden = false;
          bringIntoView(target);
        });
      });
    }
    if (!hasErrors && form.dataset.renderedOn) {
      // A form kept on the phone (the field app) and opened another day: today's date, and a start
      // time of now, not the day it was kept.
      var d = new Date();
      var today = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
      var day = $(form, 'input[name="visited_on"]');
      if (form.dataset.renderedOn !== today && day && day.value === form.dataset.renderedOn) {
        day.value = today;
        var start = $(form, 'input[name="started_at"]');
        if (start) start.value = pad(d.getHours()) + ":" + pad(d.getMinutes() - d.getMinutes() % 5);
        refresh();
      }
    }
    if (!hasErrors && keyInput && window.crypto && window.crypto.randomUUID) {
      // A fresh key for each opening of the form: the page may come from the phone's store (the
      // field app), where the same page would otherwise give two visits of one household one key.
      keyInput.value = window.crypto.randomUUID();
    }
    if (hasErrors) {
      saveDraft(); // the server sent the form back with what was typed: that is the draft now
      bringIntoView(summary);
    } else if (draft && banner) {
      var sameKey = keyInput && draft.fields.some(function (f) { return f[0] === "key" && f[1] === keyInput.value; });
      if (!sameKey) {
        var when = new Date(draft.savedAt);
        $(banner, "[data-draft-text]").textContent = "本机保存有一份未提交的记录（" + (when.getMonth() + 1) + "月" + when.getDate() + "日 " +
          pad(when.getHours()) + ":" + pad(when.getMinutes()) + "），是否恢复？";
        banner.hidden = false;
        // A reload would put the page back where it was, below the banner: start at the banner instead.
        if ("scrollRestoration" in window.history) window.history.scrollRestoration = "manual";
        bringIntoView(banner);
        var firstField = function () { return $(form, "input:not([type=hidden]), textarea, select"); };
        $(banner, "[data-draft-restore]").addEventListener("click", function () {
          restore(draft); banner.hidden = true; saveDraft(); bringIntoView(firstField());
        });
        $(banner, "[data-draft-discard]").addEventListener("click", function () {
          dropDraft(); banner.hidden = true; bringIntoView(firstField());
        });
      }
    }

    // ---- submitting ----------------------------------------------------------------------------
    var offline = $(form, "[data-offline-banner]");
    function setBusy(on) {
      busy = on;
      if (submitBtn) { submitBtn.disabled = on; submitBtn.textContent = on ? "正在提交…" : submitLabel; }
    }
    function failed(message) {
      setBusy(false);
      saveDraft();
      if (offline) {
        $(offline, "[data-offline-text]").textContent = message;
        offline.hidden = false;
        offline.scrollIntoView({ block: "center" });
      }
    }
    // No signal: the record waits on the phone (static/js/offline.js) and is sent when the network
    // returns; the cadre goes back to the household page (kept on the phone) and on to the next.
    var queueable = !!(window.VisitplanOffline && form.dataset.offlineKind);
    function queue(why) {
      setBusy(true);
      var record = {
        key: keyInput ? keyInput.value : String(Date.now()),
        kind: form.dataset.offlineKind,
        label: form.dataset.offlineLabel || document.title,
        url: form.getAttribute("action") || window.location.pathname,
        householdUrl: form.dataset.householdUrl || "",
        draft: draftName,
        fields: serialise().fields
      };
      window.VisitplanOffline.enqueue(record).then(function () {
        dropDraft();
        window.location.assign(record.householdUrl || window.location.pathname);
      }, function () { failed(why); });
    }
    function send() {
      if (busy) return; // a double tap sends once
      saveDraft();
      if (queueable && navigator.onLine === false) {
        queue("网络不通，记录还没有提交。已填写的内容保存在本机，不会丢失；网络恢复后点“重新提交”。");
        return;
      }
      setBusy(true);
      if (offline) offline.hidden = true;
      var controller = window.AbortController ? new AbortController() : null;
      var timer = setTimeout(function () { if (controller) controller.abort(); }, TIMEOUT_MS);
      fetch(form.getAttribute("action") || window.location.href, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
        signal: controller ? controller.signal : undefined
      }).then(function (resp) {
        clearTimeout(timer);
        var type = resp.headers.get("Content-Type") || "";
        if (resp.ok && type.indexOf("application/json") >= 0) {
          return resp.json().then(function (data) { dropDraft(); window.location.assign(data.redirect); });
        }
        if (resp.ok) {
          return resp.text().then(function (html) { showReturnedForm(html); });
        }
        if (resp.status === 403 && queueable) {
          // A page kept on the phone carries an old token, or the login ended: the queue sends it
          // with a fresh token, or says to log in first.
          queue("登录已过期或页面已失效：请重新登录后回到本页，点“恢复”即可找回已填写的内容。");
          return null;
        }
        if (resp.status === 403) {
          failed("登录已过期或页面已失效：请重新登录后回到本页，点“恢复”即可找回已填写的内容。");
          return null;
        }
        failed("服务器暂时无法保存（" + resp.status + "）。已填写的内容保存在本机，请稍后点“重新提交”。");
        return null;
      }).catch(function () {
        clearTimeout(timer);
        var why = "网络不通，记录还没有提交。已填写的内容保存在本机，不会丢失；网络恢复后点“重新提交”。";
        if (queueable) queue(why); else failed(why);
      });
    }
    function showReturnedForm(html) {
      // The server refused some field: show its page (the same form, with the errors).
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.querySelector("main");
      var main = document.querySelector("main");
      if (!fresh || !main) { failed("提交失败，请重试。"); return; }
      main.replaceWith(fresh);
      document.title = doc.title;
      initAll(); // focuses the error summary of the fresh form
      if (!document.querySelector("[data-error-summary]")) bringIntoView(document.querySelector(".has-error"));
    }
    form.addEventListener("submit", function (e) {
      if (!window.fetch || !window.FormData) return; // old browser: a plain post
      e.preventDefault();
      send();
    });
    if (offline) $(offline, "[data-retry]").addEventListener("click", send);
  }

  function initAll() { $$(document, "form[data-draft]").forEach(init); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll); else initAll();
})();
