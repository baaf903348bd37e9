/* The household page (visits/household.html) after a save: the visit form sends the cadre here with
 * the new record's anchor (#visit-N), which would scroll past the green "已保存" message at the top.
 * The message is where the eye goes first: scrolled to, focused and read out (role=status); the new
 * record is marked, and a link in the message leads to it.
 */
(function () {
  "use strict";

  function init() {
    var box = document.querySelector("main .messages");
    if (!box) return;
    if (!box.hasAttribute("role")) box.setAttribute("role", "status");
    box.setAttribute("tabindex", "-1");
    var id = window.location.hash ? decodeURIComponent(window.location.hash.slice(1)) : "";
    var record = id ? document.getElementById(id) : null;
    if (record) {
      record.classList.add("just-saved");
      var first = box.querySelector(".msg");
      if (first && !first.querySelector("[data-to-record]")) {
        var to = document.createElement("a");
        to.href = "#" + id;
        to.setAttribute("data-to-record", "");
        to.textContent = "查看本次记录 ↓";
        to.addEventListener("click", function (e) {
          e.preventDefault();
          record.scrollIntoView({ block: "center" });
          record.focus({ preventScroll: true });
        });
        first.appendChild(document.createTextNode(" "));
        first.appendChild(to);
      }
    }
    function show() {
      box.scrollIntoView({ block: "center" });
      try { box.focus({ preventScroll: true }); } catch (e) { box.focus(); }
    }
    show();
    // The browser may still scroll to the #anchor once the page has loaded: the message wins.
    window.addEventListener("load", function () { window.setTimeout(show, 0); }, { once: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
