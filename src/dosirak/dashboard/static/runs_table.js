// dosirak pipeline page: its runs as a table of parameters and metric summaries (sortable,
// filterable, columns of your choice; the choice lives in the page's URL), runs picked for the
// compare page, and a chosen metric across runs as a chart. Data from the JSON API; every
// value reaches the page through textContent.
(function () {
  "use strict";
  var C = window.dosirakChart;
  var table = document.getElementById("runs-table");
  var trend = document.getElementById("trend");
  if (!C || !table) return;
  var pipeline = table.dataset.pipeline;
  var base = "/api/pipelines/" + encodeURIComponent(pipeline);
  var LIMIT = 50, DEFAULT_PER_KIND = 4;
  var FILTER = /^(param:[^=]+=.*|metric:[^<>]+[<>]\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|status=[a-z]+)$/;

  // -- state, kept in the URL -----------------------------------------------------------
  var query = new URLSearchParams(window.location.search);
  var state = {
    cols: query.getAll("col"), sort: query.get("sort") || "start_time",
    order: query.get("order") === "asc" ? "asc" : "desc", filters: query.getAll("filter"),
    offset: Math.max(parseInt(query.get("offset") || "0", 10) || 0, 0),
    metric: query.get("metric") || "", x: query.get("x") || "start_time"
  };
  var chosen = state.cols.length > 0;
  var selected = {};  // run id -> run name

  function saveState() {
    var q = new URLSearchParams();
    state.cols.forEach(function (c) { q.append("col", c); });
    if (state.sort !== "start_time") q.set("sort", state.sort);
    if (state.order !== "desc") q.set("order", state.order);
    state.filters.forEach(function (f) { q.append("filter", f); });
    if (state.offset) q.set("offset", String(state.offset));
    if (state.metric) q.set("metric", state.metric);
    if (state.x !== "start_time") q.set("x", state.x);
    var text = q.toString();
    window.history.replaceState(null, "", window.location.pathname + (text ? "?" + text : ""));
  }

  function tableURL() {
    var q = new URLSearchParams({ limit: String(LIMIT), offset: String(state.offset), sort: state.sort,
                                  order: state.order });
    state.filters.forEach(function (f) { q.append("filter", f); });
    return base + "/runs-table?" + q.toString();
  }

  function label(col) { return col.replace(/^(param|metric):/, ""); }

  function shownValue(v) {
    if (v === undefined || v === null) return "–";
    if (typeof v === "number") return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3)
      : String(Math.round(v * 1e4) / 1e4);
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }

  function duration(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }

  var error = table.querySelector(".table-error");
  function showError(message) { error.hidden = !message; error.textContent = message || ""; }

  // -- the table ------------------------------------------------------------------------
  function renderColumns(data) {
    var list = table.querySelector(".column-list");
    list.textContent = "";
    var all = data.param_columns.map(function (p) { return "param:" + p; })
      .concat(data.metric_columns.map(function (m) { return "metric:" + m; }));
    if (!chosen) {
      state.cols = data.param_columns.slice(0, DEFAULT_PER_KIND).map(function (p) { return "param:" + p; })
        .concat(data.metric_columns.slice(0, DEFAULT_PER_KIND).map(function (m) { return "metric:" + m; }));
    }
    if (!all.length) list.appendChild(C.el("span", "muted", "no parameters or metrics yet"));
    all.forEach(function (col) {
      var row = C.el("label");
      var box = document.createElement("input");
      box.type = "checkbox"; box.value = col; box.checked = state.cols.indexOf(col) >= 0;
      box.addEventListener("change", function () {
        chosen = true;
        state.cols = all.filter(function (c) {
          var b = list.querySelector('input[value="' + CSS.escape(c) + '"]');
          return b && b.checked;
        });
        saveState();
        render(lastData);
      });
      row.appendChild(box);
      row.appendChild(document.createTextNode(" " + (col.indexOf("param:") === 0 ? "param " : "metric ") + label(col)));
      row.title = col;
      list.appendChild(row);
    });
  }

  function header(text, key, cls) {
    var th = C.el("th", cls || "", text);
    if (key) {
      th.classList.add("sortable");
      th.dataset.sort = key;
      if (state.sort === key) th.classList.add(state.order);
      th.title = "sort by " + text;
      th.addEventListener("click", function () {
        if (state.sort === key) state.order = state.order === "asc" ? "desc" : "asc";
        else { state.sort = key; state.order = key === "start_time" ? "desc" : "asc"; }
        state.offset = 0;
        saveState();
        load();
      });
    }
    return th;
  }

  function render(data) {
    var thead = table.querySelector("thead"), tbody = table.querySelector("tbody");
    thead.textContent = ""; tbody.textContent = "";
    var tr = document.createElement("tr");
    tr.appendChild(C.el("th", "pick", ""));
    tr.appendChild(header("Status", "status"));
    tr.appendChild(C.el("th", "", "Run"));
    tr.appendChild(header("Started", "start_time"));
    tr.appendChild(header("Duration", "duration_s", "num"));
    state.cols.forEach(function (col) {
      var th = header(label(col), col, col.indexOf("metric:") === 0 ? "num" : "");
      th.dataset.col = col;
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    if (!data.runs.length) {
      var empty = C.el("td", "empty", state.filters.length ? "No run matches the filters." : "No runs yet.");
      empty.colSpan = 5 + state.cols.length;
      var row = document.createElement("tr"); row.appendChild(empty); tbody.appendChild(row);
    }
    data.runs.forEach(function (run) {
      var row = document.createElement("tr");
      row.dataset.run = run.id;
      var pick = C.el("td", "pick"), box = document.createElement("input");
      box.type = "checkbox"; box.checked = !!selected[run.id]; box.setAttribute("aria-label", "select " + run.name);
      box.addEventListener("change", function () {
        if (box.checked) selected[run.id] = run.name; else delete selected[run.id];
        updateCompare();
      });
      pick.appendChild(box); row.appendChild(pick);
      var status = C.el("td"); status.appendChild(C.el("span", "badge s-" + run.status, run.status));
      row.appendChild(status);
      var name = C.el("td"), link = C.el("a", "", run.name);
      link.href = "/runs/" + encodeURIComponent(run.id); name.appendChild(link); row.appendChild(name);
      var started = C.el("td", "", run.start_time ? run.start_time.replace("T", " ").slice(0, 19) : "–");
      started.title = run.start_time || "";
      row.appendChild(started);
      row.appendChild(C.el("td", "num", duration(run.duration_s)));
      state.cols.forEach(function (col) {
        var isMetric = col.indexOf("metric:") === 0;
        var v = isMetric ? run.metrics[label(col)] : run.params[label(col)];
        var td = C.el("td", (isMetric ? "num metric" : "param") + (C.isNonFinite(v) ? " nonfinite" : ""), shownValue(v));
        td.dataset.col = col;
        if (v !== undefined && v !== null) td.title = typeof v === "string" ? v : JSON.stringify(v);
        row.appendChild(td);
      });
      tbody.appendChild(row);
    });
    var range = table.querySelector(".range");
    range.textContent = data.total ? (state.offset + 1) + "–" + Math.min(state.offset + LIMIT, data.total) + " of " + data.total
      : "0 runs";
    table.querySelector(".prev").disabled = state.offset === 0;
    table.querySelector(".next").disabled = state.offset + LIMIT >= data.total;
    table.dataset.total = data.total;
  }

  function renderFilters() {
    var holder = table.querySelector(".filters-on");
    holder.textContent = "";
    state.filters.forEach(function (f, i) {
      var chip = C.el("span", "chip", f), x = C.el("button", "", "×");
      x.type = "button"; x.title = "remove this filter";
      x.addEventListener("click", function () {
        state.filters.splice(i, 1); state.offset = 0; saveState(); renderFilters(); load();
      });
      chip.appendChild(x); holder.appendChild(chip);
    });
  }

  function updateCompare() {
    var ids = Object.keys(selected), button = table.querySelector("button.compare");
    button.disabled = ids.length < 2;
    button.textContent = ids.length ? "Compare selected (" + ids.length + ")" : "Compare selected";
  }

  var lastData = null, generation = 0;
  function load() {
    var mine = ++generation;
    table.dataset.loaded = "";
    return C.fetchJSON(tableURL()).then(function (data) {
      if (mine !== generation) return;
      showError("");
      lastData = data;
      renderColumns(data);
      render(data);
      fillTrendChoices(data);
      table.dataset.loaded = "1";
    }, function (err) {
      if (mine !== generation) return;
      showError(err.message);
      table.dataset.loaded = "error";
    });
  }

  table.querySelector(".filter-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = event.target.elements.filter, text = input.value.trim();
    if (!text) return;
    if (!FILTER.test(text)) {
      showError("a filter reads param:NAME=VALUE, metric:KEY>NUMBER, metric:KEY<NUMBER or status=VALUE; got '" +
                text + "'");
      return;
    }
    state.filters.push(text); state.offset = 0; input.value = "";
    saveState(); renderFilters(); load();
  });
  table.querySelector(".prev").addEventListener("click", function () {
    state.offset = Math.max(state.offset - LIMIT, 0); saveState(); load();
  });
  table.querySelector(".next").addEventListener("click", function () {
    state.offset += LIMIT; saveState(); load();
  });
  table.querySelector("button.compare").addEventListener("click", function () {
    var ids = Object.keys(selected);
    if (ids.length >= 2) window.location.href = "/compare?runs=" + ids.map(encodeURIComponent).join(",");
  });

  // -- the trend chart ------------------------------------------------------------------
  var trendFilled = false;
  function fillTrendChoices(data) {
    if (!trend || trendFilled) return;
    trendFilled = true;
    var metricSelect = trend.querySelector('select[name="metric"]'), xSelect = trend.querySelector('select[name="x"]');
    data.metric_columns.forEach(function (m) {
      var o = C.el("option", "", m); o.value = m; metricSelect.appendChild(o);
    });
    data.param_columns.forEach(function (p) {
      var o = C.el("option", "", "param " + p); o.value = "param:" + p; xSelect.appendChild(o);
    });
    if (!state.metric || data.metric_columns.indexOf(state.metric) < 0) state.metric = data.metric_columns[0] || "";
    metricSelect.value = state.metric;
    if (!Array.prototype.some.call(xSelect.options, function (o) { return o.value === state.x; })) state.x = "start_time";
    xSelect.value = state.x;
    metricSelect.addEventListener("change", function () { state.metric = metricSelect.value; saveState(); drawTrend(); });
    xSelect.addEventListener("change", function () { state.x = xSelect.value; saveState(); drawTrend(); });
    drawTrend();
  }

  function trendX(x, isTime, categories) {
    if (isTime) return typeof x === "number" ? x : Date.parse(x) / 1000;
    if (typeof x === "number") return x;
    var key = JSON.stringify(x);
    if (!(key in categories.index)) { categories.index[key] = categories.names.length; categories.names.push(key); }
    return categories.index[key];
  }

  var trendChart = null;
  function drawTrend() {
    var plot = trend.querySelector(".chart"), note = trend.querySelector(".chart-note");
    var empty = trend.querySelector(".trend-empty");
    if (!state.metric) { empty.hidden = false; trend.dataset.loaded = "1"; return; }
    empty.hidden = true;
    trend.dataset.loaded = "";
    var url = base + "/metric-trend?" + new URLSearchParams({ metric: state.metric, x: state.x, limit: "1000" });
    C.fetchJSON(url).then(function (data) {
      var isTime = state.x === "start_time", categories = { index: {}, names: [] };
      var points = data.points.map(function (p) {
        return { x: trendX(p.x, isTime, categories), y: p.y, run: p.run_name, id: p.run_id };
      }).filter(function (p) { return typeof p.x === "number" && isFinite(p.x); });
      points.sort(function (a, b) { return a.x - b.x; });
      var xs = points.map(function (p) { return p.x; }), ys = points.map(function (p) { return C.value(p.y); });
      var bad = points.filter(function (p) { return C.isNonFinite(p.y); }).map(function (p) { return p.x; });
      if (trendChart) { trendChart.destroy(); trendChart = null; }
      plot.textContent = "";
      var xValues = categories.names.length ? function (u, splits) {
        return splits.map(function (v) { return categories.names[v] !== undefined ? categories.names[v] : ""; });
      } : null;
      trendChart = C.lineChart(plot, [xs, ys], [{ label: state.metric }],
                               { id: "trend", time: isTime, points: !isTime, dots: true, nonFinite: bad, xValues: xValues,
                                 xLabel: isTime ? "run start" : label(state.x) });
      trendChart.runs = points.map(function (p) { return p.id; });
      note.textContent = points.length + " run" + (points.length === 1 ? "" : "s") +
        (bad.length ? " · " + bad.length + " non-finite (marked in red under the axis)" : "");
      trend.dataset.loaded = "1";
    }, function (err) {
      note.textContent = "The chart could not be loaded: " + err.message;
      trend.dataset.loaded = "error";
    });
  }

  renderFilters();
  updateCompare();
  load();
})();
