// The admin, accessible: Django's filter_horizontal widget (SelectFilter2.js) labels its search
// icon with aria-label on a bare <span>, which no role permits; give those spans role="img" so
// the label is read. Runs after SelectFilter2, which builds the widget on window load.
window.addEventListener('load', function () {
  window.setTimeout(function () {
    document.querySelectorAll('span[aria-label]:not([role])').forEach(function (el) {
      el.setAttribute('role', 'img');
    });
  }, 0);
});
