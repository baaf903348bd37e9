/* The dashboard's charts (Apache ECharts, vendored). Data comes from the page (json_script), no
 * inline script; every chart element links to the rows behind it. Readable on a phone and a
 * projector: large labels, one colour per meaning, resized with the window. */
(function () {
  "use strict";
  var holder = document.getElementById("dashboard");
  var dataNode = document.getElementById("dashboard-data");
  if (!holder || !dataNode) return;
  // The figures are the page itself (tiles and tables); ECharts (~240 KB compressed) comes after the
  // page has loaded, so on a weak signal the figures never wait for it.
  function whenLoaded(fn) {
    if (document.readyState === "complete") fn(); else window.addEventListener("load", fn);
  }
  whenLoaded(function () {
    if (window.echarts) { draw(); return; }
    var script = document.createElement("script");
    script.src = holder.dataset.echarts;
    script.onload = draw;
    document.head.appendChild(script);
  });

  function draw() {
  var data = JSON.parse(dataNode.textContent);
  var RED = "#c8161d", GREEN = "#16a34a", AMBER = "#f59e0b", BLUE = "#2563eb", GREY = "#cbd5e1";
  var METHOD_COLOURS = { in_person: RED, phone: BLUE, wechat: GREEN, sms: "#7c3aed", meeting: AMBER, not_home: "#94a3b8" };
  var base = { textStyle: { fontFamily: "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif", fontSize: 13 }, animation: false };
  var charts = [];

  function chart(id, option, onClick) {
    var el = document.getElementById(id);
    if (!el) return;
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    c.setOption(Object.assign({}, base, option));
    if (onClick) { c.on("click", onClick); el.style.cursor = "pointer"; }
    charts.push(c);
  }
  function go(url) { window.location.assign(url); }
  function withParam(url, key, value) { return url + (url.indexOf("?") >= 0 ? "&" : "?") + key + "=" + encodeURIComponent(value); }

  var cov = data.coverage;
  chart("ch-coverage", {
    grid: { left: 8, right: 16, top: 28, bottom: 8, containLabel: true },
    legend: { top: 0, data: ["已走访", "未走访"] },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: { type: "value" },
    yAxis: { type: "category", inverse: true, data: cov.map(function (c) { return c.name; }) },
    series: [
      { name: "已走访", type: "bar", stack: "all", color: GREEN, data: cov.map(function (c) { return c.visited; }),
        label: { show: true, position: "insideLeft", color: "#fff", formatter: function (p) { return cov[p.dataIndex].pct + "%"; } } },
      { name: "未走访", type: "bar", stack: "all", color: RED, data: cov.map(function (c) { return c.unvisited; }) }
    ]
  }, function (p) { go(withParam(holder.dataset.unvisited, "community", cov[p.dataIndex].id)); });

  chart("ch-days", {
    grid: { left: 8, right: 16, top: 32, bottom: 40, containLabel: true },
    legend: { top: 0 },
    tooltip: { trigger: "axis" },
    dataZoom: [{ type: "slider", height: 18, bottom: 6 }],
    xAxis: { type: "category", data: data.days },
    yAxis: { type: "value", minInterval: 1 },
    series: data.methods.map(function (m) {
      return { name: m.label, type: "bar", stack: "day", color: METHOD_COLOURS[m.method], data: m.data, method: m.method };
    })
  }, function (p) {
    var day = data.days[p.dataIndex], method = data.methods[p.seriesIndex].method;
    go(withParam(withParam(withParam(holder.dataset.visits, "from", day), "to", day), "method", method));
  });

  var STATUS_COLOURS = { registered: "#6366f1", accepted: "#a855f7", returned: "#9ca3af", merged: "#9ca3af", routed: BLUE,
    planned: "#0d9488", in_progress: AMBER, resolved: GREEN, closed: "#64748b" };
  chart("ch-status", {
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: data.status.map(function (s) { return s.label; }) },
    series: [{ type: "bar", label: { show: true, position: "right" },
      data: data.status.map(function (s) { return { value: s.n, itemStyle: { color: STATUS_COLOURS[s.key] || GREY } }; }) }]
  }, function (p) { go(withParam(holder.dataset.issues, "status", data.status[p.dataIndex].key)); });

  chart("ch-category", {
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: data.category.map(function (c) { return c.label; }) },
    series: [{ type: "bar", color: BLUE, label: { show: true, position: "right" }, data: data.category.map(function (c) { return c.n; }) }]
  }, function (p) { go(withParam(holder.dataset.issues, "category", data.category[p.dataIndex].key)); });

  // No answer yet: say so (a pie of zeros would draw three equal slices).
  var answered = data.satisfaction.reduce(function (n, s) { return n + s.n; }, 0);
  if (!answered) {
    var empty = document.getElementById("ch-satisfaction");
    if (empty) { empty.className = "muted empty-line"; empty.removeAttribute("role"); empty.textContent = "暂无回访评价"; }
  } else chart("ch-satisfaction", {
    tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
    legend: { bottom: 0 },
    color: [GREEN, AMBER, RED],
    series: [{ type: "pie", radius: ["38%", "68%"], center: ["50%", "44%"], label: { formatter: "{b}\n{d}%" },
      data: data.satisfaction.map(function (s) { return { name: s.label, value: s.n, key: s.key }; }) }]
  }, function (p) { go(withParam(withParam(holder.dataset.followups, "status", "done"), "satisfaction", p.data.key)); });

  // 千分制: the points each community lost (倒扣分) on an axis from 0, the score in the label. Bars of
  // the scores themselves would need an axis starting near 1000, where a 3-point gap looks like a
  // collapse. A red bar is a community on the 约谈 list (the rulebook counts findings toward it, some
  // of which may cost no points, so no line on this axis marks it); a bar opens the findings behind it.
  var scores = data.scores;
  var worst = scores.reduce(function (m, s) { return Math.max(m, s.deducted); }, 0);
  chart("ch-scores", {
    grid: { left: 8, right: 88, top: 8, bottom: 24, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: function (ps) {
      var s = scores[ps[0].dataIndex];
      return s.name + "<br>得分 " + s.score + " / " + data.full_score + "<br>扣 " + s.deducted + " 分（督查发现 " + s.findings + " 条）";
    } },
    xAxis: { type: "value", min: 0, max: Math.max(worst, 1), minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: scores.map(function (s) { return s.name; }) },
    series: [{ type: "bar", barMinHeight: 2,
      label: { show: true, position: "right", formatter: function (p) { var s = scores[p.dataIndex]; return s.score + "分（扣" + s.deducted + "）" + (s.interview ? " 约谈" : ""); } },
      data: scores.map(function (s) { return { value: s.deducted, itemStyle: { color: s.interview ? RED : (s.deducted ? AMBER : GREEN) } }; }) }]
  }, function (p) { if (scores[p.dataIndex].findings) go(scores[p.dataIndex].url); });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  holder.setAttribute("data-charts-drawn", "");
  }
})();
