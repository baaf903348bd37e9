// The issue page (issues/detail.html). A static file, so the Content-Security-Policy needs no
// inline script: script-src 'self'.
// 交办: the responsible person list shows only the chosen department's people.
document.querySelectorAll('form[data-action="route"]').forEach(function (form) {
  var dept = form.querySelector('select[name="department"]');
  var person = form.querySelector('select[name="assignee"]');
  if (!dept || !person) return;
  function narrow() {
    var name = dept.selectedIndex > 0 ? dept.options[dept.selectedIndex].text : null;
    person.querySelectorAll('optgroup').forEach(function (g) {
      var show = !name || g.label === name;
      g.hidden = !show; g.disabled = !show;
    });
    var chosen = person.options[person.selectedIndex];
    if (chosen && chosen.parentNode.disabled) person.value = '';
  }
  dept.addEventListener('change', narrow);
  narrow();
});
// Opening a form from a link (#act-…) unfolds it.
if (location.hash.indexOf('#act-') === 0) {
  var box = document.querySelector(location.hash);
  if (box) { box.open = true; box.scrollIntoView(); }
}
