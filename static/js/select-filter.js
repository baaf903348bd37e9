// A search box over a long list (<select size=…>), e.g. the admin's 转给 list: typing keeps the options
// whose text holds every word typed (name, tier, community, grid). No library, no network; without
// script the list still works and the box stays hidden.
//
// <div data-select-filter hidden>
//   <label for="q">搜索</label> <input id="q" type="search" data-filter-for="id_to_cadre" aria-describedby="n">
//   <span id="n" aria-live="polite"></span>
// </div>
(function () {
  function words(text) {
    return text.toLowerCase().split(/[\s/·（）()，,]+/).filter(Boolean);
  }

  document.querySelectorAll("[data-filter-for]").forEach(function (input) {
    var select = document.getElementById(input.getAttribute("data-filter-for"));
    if (!select) return;
    var status = document.getElementById(input.getAttribute("aria-describedby"));
    var box = input.closest("[data-select-filter]");
    if (box) box.hidden = false;
    var options = Array.prototype.filter.call(select.options, function (o) { return o.value !== ""; });
    var total = options.length;

    function apply() {
      var wanted = words(input.value);
      var shown = 0;
      options.forEach(function (o) {
        var text = o.text.toLowerCase();
        var match = wanted.every(function (w) { return text.indexOf(w) !== -1; });
        o.hidden = !match;
        o.disabled = !match;
        if (match) shown += 1;
        else if (o.selected) o.selected = false; // nothing chosen that the list no longer shows
      });
      if (status) status.textContent = wanted.length ? "找到 " + shown + " 人（共 " + total + " 人）" : "共 " + total + " 人";
      return shown;
    }

    input.addEventListener("input", apply);
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault(); // Enter searches; it does not send the form
      var visible = options.filter(function (o) { return !o.hidden; });
      if (visible.length === 1) visible[0].selected = true;
      select.focus();
    });
    apply();
  });
})();
