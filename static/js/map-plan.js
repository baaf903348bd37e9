/* 网格图 (reports/maps): a grid's or a community's buildings drawn by ECharts (vendored, loaded after
 * the page) from the page's json_script — over the plan image the street admin uploaded (x / y:
 * fractions of the plan from its top left), or by their 经度 / 纬度 (metres from their centre, north
 * up, the same scale both ways; no tiles). Each building is a circle sized by its households and
 * coloured by the measure of the chooser (map.js: MinqingMap), labelled with its name and number;
 * a tap opens its 楼栋图. The table under the map holds the same numbers.
 *
 * 调整位置 (street admin, plan only): the buildings become buttons over the plan, dragged with a
 * finger or the mouse (pointer events), or moved with the arrow keys; 保存位置 posts them as JSON. */
(function () {
  "use strict";
  var holder = document.getElementById("map-plan");
  var M = window.MinqingMap;
  if (!holder || !M) return;
  var data = M.data;
  var chartEl = document.getElementById("map-chart");
  var mode = holder.getAttribute("data-mode");
  var placed = data.buildings.filter(function (b) { return b.x !== null && b.y !== null; });
  var FONT = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif";
  var GREEN = "#15803d", LIME = "#65a30d", AMBER = "#d97706", RED = "#c8161d", BROWN = "#b45309", GREY = "#9ca3af";
  var chart = null;

  function whenLoaded(fn) {
    if (document.readyState === "complete") fn(); else window.addEventListener("load", fn);
  }
  whenLoaded(function () {
    if (window.echarts) { start(); return; }
    var script = document.createElement("script");
    script.src = holder.getAttribute("data-echarts");
    script.onload = start;
    document.head.appendChild(script);
  });

  // ------------------------------------------------------------------------------ measures
  function measure(b, s) {
    if (s.by === "visited") {
      var pct = b.households ? b.visited / b.households : 0;
      var colour = !b.households ? GREY : pct >= 1 ? GREEN : pct >= 0.8 ? LIME : pct >= 0.5 ? AMBER : RED;
      return { colour: colour, text: b.visited + "/" + b.households };
    }
    if (s.by === "issues") return { colour: b.issues ? RED : GREY, text: b.issues ? "诉求" + b.issues : "无诉求" };
    var n = s.group ? (b.groups[s.group] || 0) : b.focus;
    return { colour: n ? BROWN : GREY, text: (s.group ? M.groupLabel(s) : "重点") + n + "户" };
  }

  // ------------------------------------------------------------------------------ layout
  var box = null; // the plan's rectangle in the chart (px), or the metres' bounds

  var MIN_PLAN_WIDTH = 600; // a plan narrower than this is scrolled sideways on a phone, not squeezed

  function size() {
    var width = holder.clientWidth || 320;
    if (mode === "plan" && width < MIN_PLAN_WIDTH) width = MIN_PLAN_WIDTH;
    chartEl.style.width = width + "px";
    var wider = width > holder.clientWidth;
    holder.classList.toggle("is-wider", wider);
    // A region that scrolls sideways must be reachable by the keyboard (the arrow keys scroll it).
    if (wider) {
      holder.setAttribute("tabindex", "0");
      holder.setAttribute("role", "region");
      holder.setAttribute("aria-label", "平面图（可左右滚动）");
    } else {
      holder.removeAttribute("tabindex");
      holder.removeAttribute("role");
      holder.removeAttribute("aria-label");
    }
    var tall = Math.max(280, Math.min(window.innerHeight * 0.72, 640));
    if (mode === "plan") {
      var aspect = data.plan.height / data.plan.width;
      var height = Math.min(Math.max(width * aspect, 240), tall);
      var rectW = Math.min(width, height / aspect), rectH = rectW * aspect;
      chartEl.style.height = Math.round(height) + "px";
      box = { left: (width - rectW) / 2, top: (height - rectH) / 2, width: rectW, height: rectH };
    } else {
      var h = Math.round(Math.min(Math.max(width * 0.75, 300), tall));
      chartEl.style.height = h + "px";
      box = metresBox(width, h);
    }
  }

  function metresBox(width, height) {
    // Room around the buildings: more below them, where their labels hang.
    var pad = { left: 64, right: 64, top: 44, bottom: 76 };
    var xs = placed.map(function (b) { return b.x; }), ys = placed.map(function (b) { return b.y; });
    var minX = Math.min.apply(null, xs), maxX = Math.max.apply(null, xs);
    var minY = Math.min.apply(null, ys), maxY = Math.max.apply(null, ys);
    var w = Math.max(width - pad.left - pad.right, 40), h = Math.max(height - pad.top - pad.bottom, 40);
    // One scale both ways (metres per pixel), at least 60 m across, so that the plan keeps its shape.
    var scale = Math.max((maxX - minX) / w, (maxY - minY) / h, 60 / Math.min(w, h));
    var left = (minX + maxX) / 2 - scale * (w / 2 + pad.left);
    var bottom = (minY + maxY) / 2 - scale * (h / 2 + pad.bottom);
    return { pad: pad, scale: scale, minX: left, maxX: left + scale * width, minY: bottom, maxY: bottom + scale * height,
             width: width, height: height };
  }

  function niceMetres(target) {
    var steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
    for (var i = steps.length - 1; i >= 0; i--) if (steps[i] <= target) return steps[i];
    return steps[0];
  }

  function backdrop() {
    if (mode === "plan") {
      if (data.plan.url) {
        return [{ type: "image", left: box.left, top: box.top, z: -10, silent: true,
                  style: { image: data.plan.url, width: box.width, height: box.height } }];
      }
      return [{ type: "rect", left: box.left, top: box.top, z: -10, silent: true,
                shape: { width: box.width, height: box.height }, style: { fill: "#f8fafc", stroke: "#cbd5e1" } }];
    }
    var metres = niceMetres(box.scale * 120), length = metres / box.scale;
    var label = (metres >= 1000 ? metres / 1000 + " 公里" : metres + " 米") + "（每格）";
    return [
      { type: "rect", left: 0, top: 0, z: -10, silent: true, shape: { width: box.width, height: box.height },
        style: { fill: "#f8fafc" } },
      { type: "group", left: 14, bottom: 14, silent: true, children: [
        { type: "line", shape: { x1: 0, y1: 8, x2: length, y2: 8 }, style: { stroke: "#374151", lineWidth: 2 } },
        { type: "line", shape: { x1: 0, y1: 3, x2: 0, y2: 13 }, style: { stroke: "#374151", lineWidth: 2 } },
        { type: "line", shape: { x1: length, y1: 3, x2: length, y2: 13 }, style: { stroke: "#374151", lineWidth: 2 } },
        { type: "text", x: 0, y: -12, style: { text: label, fill: "#374151", font: "12px " + FONT } }
      ] },
      { type: "text", right: 14, top: 10, silent: true, style: { text: "北 ↑", fill: "#374151", font: "bold 13px " + FONT } }
    ];
  }

  function axes() {
    if (mode === "plan") {
      return {
        grid: { left: box.left, top: box.top, width: box.width, height: box.height },
        xAxis: { type: "value", min: 0, max: 1, show: false },
        yAxis: { type: "value", min: 0, max: 1, inverse: true, show: false }
      };
    }
    // Light lines every so many metres (the scale bar's length): a squared paper, not a street map.
    var step = niceMetres(box.scale * 120);
    var paper = { show: false };
    var lines = { show: true, lineStyle: { color: "#e2e8f0" } };
    return {
      grid: { left: 0, top: 0, right: 0, bottom: 0 },
      xAxis: { type: "value", min: box.minX, max: box.maxX, interval: step, axisLine: paper, axisTick: paper,
               axisLabel: paper, splitLine: lines },
      yAxis: { type: "value", min: box.minY, max: box.maxY, interval: step, axisLine: paper, axisTick: paper,
               axisLabel: paper, splitLine: lines }
    };
  }

  function draw(s) {
    if (!chart) return;
    var most = placed.reduce(function (m, b) { return Math.max(m, b.households); }, 1);
    // The largest circle about a twelfth of the drawing's width (22–48 px): on a phone the labels still fit.
    var width = mode === "plan" ? box.width : box.width - box.pad.left - box.pad.right;
    var big = Math.max(22, Math.min(48, width / 12)), small = Math.max(12, big / 3);
    var narrow = box.width < 640; // one line under each circle: less to overlap its neighbours
    var points = placed.map(function (b) {
      var m = measure(b, s);
      return {
        value: [b.x, b.y], name: b.name, b: b,
        symbolSize: Math.round(small + (big - small) * Math.sqrt(b.households / most)),
        itemStyle: { color: m.colour, borderColor: "#fff", borderWidth: 2, shadowBlur: 4, shadowColor: "rgba(0,0,0,.25)" },
        label: { formatter: b.name + (narrow ? " " : "\n") + m.text }
      };
    });
    var option = axes();
    option.animation = false;
    option.textStyle = { fontFamily: FONT };
    option.graphic = { elements: backdrop() };
    var html = window.echarts.format.encodeHTML; // names come from the register: text, never markup
    option.tooltip = { trigger: "item", confine: true, formatter: function (p) {
      var b = p.data.b;
      return "<b>" + html(b.name) + "</b>" + (b.grid ? "（" + html(b.grid) + "）" : "") + "<br>" + b.households + " 户" +
        (data.campaign ? " · 已走访 " + b.visited : "") + "<br>重点人群 " + b.focus + " 户 · 未办结诉求 " + b.issues + " 件";
    } };
    option.series = [{
      type: "scatter", data: points, cursor: "pointer",
      label: { show: true, position: "bottom", distance: 4, color: "#111827", fontSize: 12, lineHeight: 15,
               backgroundColor: "rgba(255,255,255,.85)", borderRadius: 3, padding: [1, 4] },
      labelLayout: { hideOverlap: true },
      emphasis: { scale: 1.15 }
    }];
    chart.setOption(option, true);
    holder.setAttribute("data-colour", s.by);
  }

  function start() {
    size();
    chart = window.echarts.init(chartEl, null, { renderer: "canvas" });
    chart.on("click", function (p) {
      var b = p.data && p.data.b;
      if (b) window.location.assign(b.url + M.query(M.state()));
    });
    M.onChange(draw);
    window.addEventListener("resize", function () {
      size();
      chart.resize();
      draw(M.state());
    });
    holder.setAttribute("data-drawn", String(placed.length));
  }

  // ------------------------------------------------------------------------------ 调整位置
  var spotsUrl = holder.getAttribute("data-spots");
  var startButton = document.getElementById("place-start");
  if (!spotsUrl || !startButton || mode !== "plan") return;
  var tools = document.querySelector(".place-tools");
  var help = document.querySelector(".place-help");
  var status = document.getElementById("place-status");
  var editor = null, markers = [];

  function clamp(v) { return Math.min(1, Math.max(0, v)); }
  function put(marker, x, y) {
    marker.x = clamp(x);
    marker.y = clamp(y);
    marker.el.style.left = (marker.x * 100).toFixed(2) + "%";
    marker.el.style.top = (marker.y * 100).toFixed(2) + "%";
    marker.el.setAttribute("aria-label", marker.b.name + "：横向 " + Math.round(marker.x * 100) + "%，纵向 " +
      Math.round(marker.y * 100) + "%，可拖动或用方向键移动");
  }

  function addMarker(b, x, y) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "spot";
    button.textContent = b.name;
    button.setAttribute("data-building", String(b.id));
    var marker = { b: b, el: button, x: x, y: y };
    put(marker, x, y);
    button.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      button.setPointerCapture(event.pointerId);
      button.classList.add("dragging");
      button.focus();
    });
    button.addEventListener("pointermove", function (event) {
      if (!button.hasPointerCapture(event.pointerId)) return;
      var rect = editor.getBoundingClientRect();
      put(marker, (event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
    });
    function drop(event) {
      if (button.hasPointerCapture(event.pointerId)) button.releasePointerCapture(event.pointerId);
      button.classList.remove("dragging");
    }
    button.addEventListener("pointerup", drop);
    button.addEventListener("pointercancel", drop);
    button.addEventListener("keydown", function (event) {
      var step = event.shiftKey ? 0.05 : 0.01;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      var move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      put(marker, marker.x + move[0], marker.y + move[1]);
    });
    editor.appendChild(button);
    markers.push(marker);
    return marker;
  }

  function startPlacing() {
    editor = document.createElement("div");
    editor.className = "plan-edit";
    editor.id = "plan-edit";
    editor.style.aspectRatio = data.plan.width + " / " + data.plan.height;
    // The whole plan on the screen: no wider than 80 % of the window's height allows.
    editor.style.maxWidth = "calc(80vh * " + (data.plan.width / data.plan.height).toFixed(4) + ")";
    if (data.plan.url) {
      var img = document.createElement("img");
      img.src = data.plan.url;
      img.alt = data.plan.node + "平面图";
      img.draggable = false;
      editor.appendChild(img);
    }
    chartEl.hidden = true;
    holder.appendChild(editor);
    var card = holder.closest(".map-card");
    if (card) card.classList.add("is-placing");
    holder.classList.remove("is-wider");
    ["tabindex", "role", "aria-label"].forEach(function (name) { holder.removeAttribute(name); });
    placed.forEach(function (b) { addMarker(b, b.x, b.y); });
    var offset = 0;
    Array.prototype.forEach.call(document.querySelectorAll("#map-unplaced li[data-building]"), function (li) {
      var b = data.buildings.filter(function (x) { return String(x.id) === li.getAttribute("data-building"); })[0];
      if (!b) return;
      var putButton = document.createElement("button");
      putButton.type = "button";
      putButton.className = "btn small place-put";
      putButton.textContent = "放到图上";
      putButton.setAttribute("aria-label", "放到图上：" + b.name);
      putButton.addEventListener("click", function () {
        var marker = addMarker(b, 0.5 + offset, 0.5 + offset);
        offset = (offset + 0.04) % 0.3;
        li.classList.add("is-placing");
        putButton.remove();
        marker.el.focus({ preventScroll: true });
        editor.scrollIntoView({ block: "start" });
      });
      li.appendChild(document.createTextNode(" "));
      li.appendChild(putButton);
    });
    startButton.hidden = true;
    tools.hidden = false;
    help.hidden = false;
    status.textContent = "调整位置中：拖动后点“保存位置”";
    editor.scrollIntoView({ block: "start" });
  }

  function token() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function save() {
    var body = { spots: markers.map(function (m) {
      return { building: m.b.id, x: Math.round(m.x * 10000) / 10000, y: Math.round(m.y * 10000) / 10000 };
    }) };
    status.textContent = "正在保存…";
    fetch(spotsUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token(), "X-Requested-With": "fetch" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false, message: "保存失败（" + response.status + "）" }; });
    }).then(function (answer) {
      status.textContent = answer.message || (answer.ok ? "已保存" : "保存失败");
      status.className = "place-status " + (answer.ok ? "ok" : "bad");
      if (answer.ok) window.setTimeout(function () { window.location.reload(); }, 600);
    }, function () {
      status.textContent = "保存失败：网络不通，请稍后再试";
      status.className = "place-status bad";
    });
  }

  startButton.addEventListener("click", startPlacing);
  document.getElementById("place-save").addEventListener("click", save);
  document.getElementById("place-cancel").addEventListener("click", function () { window.location.reload(); });
})();
