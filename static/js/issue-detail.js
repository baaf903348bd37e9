// The issue page (issues/detail.html). A static file, so the Content-Security-Policy needs no
// inline script: script-src 'self'.
// 交办's person list: issues/static/issues/route-form.js.
// Opening a form from a link (#act-…) unfolds it.
if (location.hash.indexOf('#act-') === 0) {
  var box = document.querySelector(location.hash);
  if (box) { box.open = true; box.scrollIntoView(); }
}
