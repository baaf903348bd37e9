// 交办 on the issue page (issues/detail.html): the responsible person list offers only the chosen
// department's people. Each option carries data-department (issues.forms.PersonSelect); the options
// of other departments are taken out of the list (hidden options still show in some phones'
// pickers) and put back when their department is chosen. A static file: script-src 'self'.
document.querySelectorAll('form[data-action="route"]').forEach(function (form) {
  var dept = form.querySelector('select[name="department"]');
  var person = form.querySelector('select[name="assignee"]');
  if (!dept || !person) return;
  var all = Array.prototype.slice.call(person.options);
  function narrow() {
    var chosen = person.value;
    var keep = all.filter(function (o) {
      return !o.value || (dept.value !== '' && o.getAttribute('data-department') === dept.value);
    });
    while (person.options.length) person.remove(0);
    keep.forEach(function (o) { person.add(o); });
    person.value = keep.some(function (o) { return o.value === chosen; }) ? chosen : '';
  }
  dept.addEventListener('change', narrow);
  narrow();
});
