/* 民情地图 (reports/maps): the colour-by chooser of every map page, and the 楼栋图 — one building as
 * its units × floors × rooms, or a community's buildings side by side — drawn from the page's
 * json_script (reports/maps/data.py: the rooms as lists, in the order of data.fields). No inline
 * script, no tiles. Each room is a real link to the household's page, labelled for screen readers
 * ("3单元 502 已走访 老党员"); its colour comes with a mark (✓, ★, the number of issues), so colour is
 * never the only cue. map-plan.js (the 网格图) listens to the same chooser through MinqingMap.onChange. */
(function () {
  "use strict";
  var dataNode = document.getElementById("map-data");
  var form = document.getElementById("map-controls");
  if (!dataNode || !form) return;
  var data = JSON.parse(dataNode.textContent);
  var groupNames = {};
  (data.groups || []).forEach(function (g) { groupNames[g.id] = g.name; });
  var listeners = [];
  var state = read();

  function read() {
    var checked = form.querySelector("input[name=by]:checked");
    var select = form.querySelector("select[name=group]");
    return { by: checked ? checked.value : "focus", group: select && select.value ? Number(select.value) : null };
  }
  function query(s) {
    return "?by=" + s.by + (s.by === "focus" && s.group ? "&group=" + s.group : "");
  }
  function groupLabel(s) { return s.group ? groupNames[s.group] : "重点人群"; }

  function apply() {
    state = read();
    var pick = form.querySelector(".map-group");
    if (pick) pick.hidden = state.by !== "focus";
    Array.prototype.forEach.call(document.querySelectorAll("#map-legend [data-legend]"), function (p) {
      p.hidden = p.getAttribute("data-legend") !== state.by;
    });
    Array.prototype.forEach.call(document.querySelectorAll("#map-legend [data-group-name]"), function (el) {
      el.textContent = groupLabel(state);
    });
    // The address keeps the choice: back from a household, the map is coloured as it was left.
    if (window.history && history.replaceState) history.replaceState(null, "", query(state) + location.hash);
    listeners.forEach(function (fn) { fn(state); });
  }
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });

  window.MinqingMap = {
    data: data,
    query: query,
    groupLabel: groupLabel,
    state: function () { return state; },
    onChange: function (fn) { listeners.push(fn); fn(state); }
  };

  // ------------------------------------------------------------------------------------ 楼栋图
  var holder = document.getElementById("map-rooms");
  if (!holder || !data.rooms) return;
  var compact = holder.getAttribute("data-view") === "community";
  var F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  var cells = [];
  var heads = [];

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function floorLabel(f) {
    if (f === null) return "其他";
    if (f < 0) return compact ? "B" + (-f) : "地下" + (-f) + "层";
    return compact ? String(f) : f + "层";
  }
  function householdUrl(pk) { return data.household_url.replace(/\/0\/$/, "/" + pk + "/"); }

  // The link's name, read out whatever the colouring: "3单元 502 已走访 老党员 未办结诉求1件" — the
  // unit before the visible number, the rest after it, in text a screen reader reads (not an
  // aria-label, which would have to repeat the visible number and mark exactly).
  function roomLink(r, block) {
    var a = el("a", "room");
    a.href = householdUrl(r[F.id]);
    var unit = block.units[r[F.unit]];
    var after = [];
    if (data.campaign) after.push(r[F.visited] ? "已走访" : "未走访");
    r[F.tags].forEach(function (g) { if (groupNames[g]) after.push(groupNames[g]); });
    if (r[F.issues]) after.push("未办结诉求" + r[F.issues] + "件");
    a.title = [unit, r[F.room]].concat(after).filter(Boolean).join(" ");
    if (unit) a.appendChild(el("span", "sr-only", unit + " "));
    a.appendChild(el("span", "rn", r[F.room]));
    if (after.length) a.appendChild(el("span", "sr-only", " " + after.join(" ")));
    var mark = el("span", "rm");
    mark.setAttribute("aria-hidden", "true");
    a.appendChild(mark);
    cells.push({ a: a, r: r, mark: mark });
    return a;
  }

  // A room's place on its floor: the last two digits of its number (1502 → "02"), so that the same
  // flat of every floor stands in one column and a flat missing from the register leaves a gap.
  function doorOf(r) {
    if (r[F.floor] === null) return null;
    var runs = String(r[F.room]).match(/\d{3,}/g);
    return runs ? runs[runs.length - 1].slice(-2) : null;
  }
  var MAX_DOORS = 10; // more flats than that on a floor: drawn one after the other

  function doorsOf(rooms, unitCount) {
    var doors = [];
    for (var i = 0; i < unitCount; i++) doors.push({});
    rooms.forEach(function (r) {
      var d = doorOf(r);
      if (d !== null) doors[r[F.unit]][d] = true;
    });
    return doors.map(function (set) {
      var keys = Object.keys(set).sort(function (a, b) { return Number(a) - Number(b); });
      return keys.length && keys.length <= MAX_DOORS ? keys : null;
    });
  }

  function fillCell(wrap, list, doors, block) {
    if (!doors) {
      list.forEach(function (r) { wrap.appendChild(roomLink(r, block)); });
      return;
    }
    doors.forEach(function (d) {
      var here = list.filter(function (r) { return doorOf(r) === d; });
      if (!here.length) {
        var gap = el("span", "room-gap");
        gap.setAttribute("aria-hidden", "true");
        wrap.appendChild(gap);
      }
      here.forEach(function (r) { wrap.appendChild(roomLink(r, block)); });
    });
    list.forEach(function (r) { if (doorOf(r) === null) wrap.appendChild(roomLink(r, block)); });
  }

  function drawBlock(block, rooms) {
    var section = el("section", "bmap");
    var head = el("div", "bmap-head");
    if (compact) {
      var title = el("h2", "bmap-name");
      if (block.url) {
        var link = el("a", "", block.name);
        link.href = block.url;
        title.appendChild(link);
        heads.push({ link: link, url: block.url });
      } else title.textContent = block.name;
      head.appendChild(title);
    }
    var counts = el("p", "bmap-counts");
    head.appendChild(counts);
    heads.push({ counts: counts, rooms: rooms });
    section.appendChild(head);
    if (!rooms.length) {
      section.appendChild(el("p", "muted small", "暂无住户"));
      return section;
    }
    var floors = [], seen = {}, at = {};
    rooms.forEach(function (r) {
      var f = r[F.floor], key = f === null ? "x" : String(f);
      if (!seen[key]) { seen[key] = true; floors.push(f); }
      var cell = key + "|" + r[F.unit];
      (at[cell] = at[cell] || []).push(r);
    });
    floors.sort(function (a, b) {
      if (a === null) return 1;
      if (b === null) return -1;
      return b - a; // the top floor on top
    });
    var units = block.units;
    var doors = doorsOf(rooms, units.length);
    var scroller = el("div", "bmap-scroll");
    var table = el("table", "bmap-grid");
    var caption = el("caption", "sr-only", block.name + "：各" + (units.length > 1 ? "单元" : "") + "楼层的住户");
    table.appendChild(caption);
    var thead = el("thead"), hr = el("tr");
    hr.appendChild(el("th", "fl", compact ? "层" : "楼层")).setAttribute("scope", "col");
    units.forEach(function (u) {
      var th = el("th", "", u || (units.length > 1 ? "—" : "住户"));
      th.setAttribute("scope", "col");
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    var tbody = el("tbody");
    floors.forEach(function (f) {
      var tr = el("tr");
      var th = el("th", "fl", floorLabel(f));
      th.setAttribute("scope", "row");
      tr.appendChild(th);
      units.forEach(function (_u, i) {
        var td = el("td");
        var list = at[(f === null ? "x" : String(f)) + "|" + i] || [];
        var wrap = el("div", "rooms");
        fillCell(wrap, list, f === null ? null : doors[i], block);
        td.appendChild(wrap);
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    scroller.appendChild(table);
    section.appendChild(scroller);
    return section;
  }

  var byBlock = data.blocks.map(function () { return []; });
  data.rooms.forEach(function (r) { byBlock[r[F.block]].push(r); });
  var fragment = document.createDocumentFragment();
  data.blocks.forEach(function (block, i) { fragment.appendChild(drawBlock(block, byBlock[i])); });
  holder.textContent = "";
  if (!data.blocks.length) holder.appendChild(el("p", "muted", "暂无楼栋和住户"));
  holder.appendChild(fragment);

  function isOn(r, s) {
    if (s.by === "visited") return !!r[F.visited];
    if (s.by === "issues") return r[F.issues] > 0;
    var tags = r[F.tags];
    return s.group ? tags.indexOf(s.group) >= 0 : tags.length > 0;
  }
  var CLASS = { visited: ["is-visited", "is-none"], issues: ["is-issues", "is-off"], focus: ["is-focus", "is-off"] };

  function paint(s) {
    var classes = CLASS[s.by] || CLASS.focus;
    cells.forEach(function (c) {
      var on = isOn(c.r, s);
      c.a.className = "room " + classes[on ? 0 : 1];
      c.mark.textContent = !on ? "" : s.by === "visited" ? "✓" : s.by === "issues" ? String(c.r[F.issues]) : "★";
    });
    heads.forEach(function (h) {
      if (h.link) { h.link.href = h.url + query(s); return; }
      var rooms = h.rooms, visited = 0, focus = 0, issues = 0;
      rooms.forEach(function (r) {
        if (r[F.visited]) visited += 1;
        if (isOn(r, { by: "focus", group: s.group })) focus += 1;
        issues += r[F.issues];
      });
      var parts = [
        ["", rooms.length + "户"],
        ["visited", "已走访 " + visited],
        ["focus", groupLabel(s) + " " + focus + "户"],
        ["issues", "诉求 " + issues + "件"]
      ];
      h.counts.textContent = "";
      parts.forEach(function (p, i) {
        if (p[0] === "visited" && !data.campaign) return;
        if (i) h.counts.appendChild(document.createTextNode(" · "));
        h.counts.appendChild(el("span", p[0] && p[0] === s.by ? "on" : "", p[1]));
      });
    });
    holder.setAttribute("data-colour", s.by);
  }
  window.MinqingMap.onChange(paint);
  holder.setAttribute("data-drawn", String(cells.length));
})();
