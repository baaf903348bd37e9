/* 拨打 (households/_call.html): the POST that logs the reveal answers the number as JSON; the page
 * then shows it as a tel: link and opens it, so the phone's dialler comes up with the number.
 * Without JavaScript the form posts and the answer is a page with the same link.
 */
(function () {
  "use strict";

  function wire(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    var button = form.querySelector("[data-call-button]");
    var note = form.querySelector("[data-call-note]");
    var error = form.querySelector("[data-call-error]");
    var link = null;

    function fail(message) {
      if (button) button.disabled = false;
      if (error) { error.textContent = message; error.hidden = false; }
    }
    form.addEventListener("submit", function (e) {
      if (!window.fetch || !window.FormData) return; // a plain post: the answer is a page
      e.preventDefault();
      if (link) { link.click(); return; } // revealed already: dial again, no second log row
      if (button) button.disabled = true;
      if (error) error.hidden = true;
      fetch(form.getAttribute("action"), {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
      }).then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (data) {
          if (!resp.ok || !data.phone) {
            fail(data.error || (resp.status === 403 ? "您不能拨打该户电话" : "暂时取不到号码（" + resp.status + "），请稍后再试"));
            return;
          }
          link = document.createElement("a");
          link.className = "btn primary call-btn";
          link.href = data.tel;
          link.setAttribute("data-call-link", "");
          link.textContent = "拨打 " + data.phone;
          if (button) button.replaceWith(link);
          if (note) note.textContent = "已记入访问日志";
          link.focus();
          link.click(); // opens the dialler
        });
      }).catch(function () { fail("网络不通，取不到号码，请稍后再试"); });
    });
  }

  function init() { Array.prototype.forEach.call(document.querySelectorAll("form[data-call]"), wire); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
