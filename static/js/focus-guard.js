// Focus is never hidden under the sticky bars (WCAG 2.4.11): the red top bar, and a form's sticky
// submit bar. The browser scrolls a newly focused element only when it is outside the window;
// one that lands under a bar is scrolled to the middle of what the bars leave free.
(function () {
  function edges(el) {
    var top = 0, bottom = window.innerHeight;
    document.querySelectorAll('.topbar, .submit-bar').forEach(function (bar) {
      if (bar.contains(el) || getComputedStyle(bar).position !== 'sticky') return;
      var r = bar.getBoundingClientRect();
      if (r.top < window.innerHeight / 2) top = Math.max(top, r.bottom);
      else bottom = Math.min(bottom, r.top);
    });
    return { top: top, bottom: bottom };
  }
  document.addEventListener('focusin', function (event) {
    var el = event.target;
    if (!el || !el.getBoundingClientRect) return;
    var r = el.getBoundingClientRect(), free = edges(el);
    if (r.top >= free.top && r.bottom <= free.bottom) return;
    var middle = (free.top + free.bottom) / 2;
    window.scrollBy(0, (r.top + r.bottom) / 2 - middle);
  });
})();
