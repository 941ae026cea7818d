// dosirak dashboard charts: metric series drawn by the vendored uPlot, from the JSON API.
// Non-finite values arrive as the strings "NaN", "Infinity", "-Infinity": they are drawn as gaps
// and marked by a red tick under the plot at their x. Every chart is kept in
// window.dosirakCharts[id] (the uPlot instance), so tests can read what was drawn.
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
                 "#ea580c", "#475569"];
  var charts = window.dosirakCharts = window.dosirakCharts || {};

  function color(i) { return PALETTE[i % PALETTE.length]; }

  // A value from the API as a plotted number (null for a gap).
  function value(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function isNonFinite(v) { return v === "NaN" || v === "Infinity" || v === "-Infinity"; }

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) throw new Error((data && data.message) || ("HTTP " + r.status));
          return data;
        });
      });
  }

  // Draws a red tick under the plot at each x in u.nonFinite (the non-finite points).
  function nonFiniteMarks() {
    return { hooks: { draw: [function (u) {
      var marks = u.nonFinite || [];
      if (!marks.length) return;
      var ctx = u.ctx, top = u.bbox.top + u.bbox.height - 8 * devicePixelRatio;
      ctx.save();
      ctx.fillStyle = "#dc2626";
      marks.forEach(function (x) {
        var px = u.valToPos(x, "x", true);
        if (px >= u.bbox.left && px <= u.bbox.left + u.bbox.width) ctx.fillRect(px - devicePixelRatio, top, 2 * devicePixelRatio, 8 * devicePixelRatio);
      });
      ctx.restore();
    }] } };
  }

  function widthOf(el) { return Math.max(Math.floor(el.getBoundingClientRect().width) - 4, 200); }

  // A line chart in `el`: data = [xs, ys...]; series = [{label}...] for the ys.
  // opts: id, xLabel, time (x is a UNIX time in seconds), points (draw points only), height,
  // dots (draw every point as a dot; also when there are at most 100), nonFinite (x values to
  // mark), xValues (uPlot axis values function).
  function lineChart(el, data, series, opts) {
    opts = opts || {};
    var options = {
      width: widthOf(el), height: opts.height || 220,
      scales: { x: { time: !!opts.time } },
      axes: [opts.xValues ? { label: opts.xLabel || "", size: 40, values: opts.xValues }
                          : { label: opts.xLabel || "", size: 40 }, { size: 60 }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      plugins: [nonFiniteMarks()],
      series: [{ label: opts.xLabel || "x" }].concat(series.map(function (s, i) {
        // few points: each is drawn as a dot too (a lone point between gaps has no line to show it)
        var dots = opts.points || opts.dots || data[0].length <= 100;
        var line = { label: s.label, stroke: color(i), fill: undefined, width: 1.5, spanGaps: false,
                     points: { show: dots ? true : undefined, size: opts.points ? 7 : 5, fill: color(i) } };
        if (opts.points) line.paths = function () { return null; };
        return line;
      }))
    };
    var u = new uPlot(options, data, el);
    u.nonFinite = opts.nonFinite || [];
    if (opts.id) { charts[opts.id] = u; el.dataset.chart = opts.id; }
    if (window.ResizeObserver) {
      new ResizeObserver(function () { var w = widthOf(el); if (w !== u.width) u.setSize({ width: w, height: u.height }); })
        .observe(el);
    }
    return u;
  }

  // A series' points ([[step, value, wall_time]...]) as columns, with the steps of non-finite values.
  function columns(points) {
    var xs = [], ys = [], bad = [];
    points.forEach(function (p) {
      xs.push(p[0]); ys.push(value(p[1]));
      if (isNonFinite(p[1])) bad.push(p[0]);
    });
    return { xs: xs, ys: ys, bad: bad };
  }

  function describeNonFinite(points) {
    var found = points.filter(function (p) { return isNonFinite(p[1]); });
    if (!found.length) return "";
    var shown = found.slice(0, 4).map(function (p) { return p[1] + " at step " + p[0]; }).join(", ");
    return found.length + " non-finite value" + (found.length > 1 ? "s" : "") + " (gaps): " + shown +
      (found.length > 4 ? ", …" : "");
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function seriesURL(runId, step, name) {
    return "/api/runs/" + encodeURIComponent(runId) + "/metrics/" + encodeURIComponent(step) + "/" +
      encodeURIComponent(name);
  }

  // -- run page: one chart per metric series, live while the run runs ------------------------
  function runMetrics(root) {
    var runId = root.dataset.run, listURL = "/api/runs/" + encodeURIComponent(runId) + "/metrics";
    var holder = root.querySelector(".charts"), empty = root.querySelector(".metrics-empty");
    var shown = {};  // key -> {u, cols, last, note, points}

    function addChart(m) {
      var box = el("div", "chart-box");
      box.dataset.key = m.key;
      box.appendChild(el("h3", "chart-title", m.key));
      var plot = el("div", "chart");
      box.appendChild(plot);
      var note = el("p", "chart-note muted small");
      box.appendChild(note);
      holder.appendChild(box);
      var entry = { plot: plot, note: note, cols: null, u: null, last: null, points: [], m: m };
      shown[m.key] = entry;
      return fetchJSON(seriesURL(runId, m.step, m.name) + "?max_points=1000").then(function (s) {
        entry.points = s.points;
        entry.cols = columns(s.points);
        entry.last = s.points.length ? s.points[s.points.length - 1][0] : null;
        entry.u = lineChart(plot, [entry.cols.xs, entry.cols.ys], [{ label: m.name }],
                            { id: "metric:" + m.key, xLabel: "step", nonFinite: entry.cols.bad });
        box.dataset.total = s.total;
        note.textContent = [s.downsampled ? ("downsampled from " + s.total + " points (min/max kept)") : "",
                            describeNonFinite(s.points)].filter(Boolean).join(" · ");
      });
    }

    function extend(entry) {
      if (!entry.u) return Promise.resolve();
      var m = entry.m, url = seriesURL(runId, m.step, m.name) + "?max_points=1000" +
        (entry.last === null ? "" : "&after_step=" + encodeURIComponent(entry.last));
      return fetchJSON(url).then(function (s) {
        if (!s.points.length) return;
        var more = columns(s.points);
        entry.points = entry.points.concat(s.points);
        entry.cols.xs = entry.cols.xs.concat(more.xs);
        entry.cols.ys = entry.cols.ys.concat(more.ys);
        entry.cols.bad = entry.cols.bad.concat(more.bad);
        entry.last = s.points[s.points.length - 1][0];
        entry.u.nonFinite = entry.cols.bad;
        entry.u.setData([entry.cols.xs, entry.cols.ys]);
        entry.note.textContent = describeNonFinite(entry.points);
      });
    }

    function refresh(first) {
      return fetchJSON(listURL).then(function (data) {
        var work = [];
        data.metrics.forEach(function (m) {
          if (!shown[m.key]) work.push(addChart(m));
          else if (!first) work.push(extend(shown[m.key]));
        });
        if (empty) empty.hidden = data.metrics.length > 0;
        root.dataset.status = data.status;
        return Promise.all(work).then(function () { return data.status; });
      });
    }

    var running = root.dataset.status === "running";
    refresh(true).then(function (status) {
      root.dataset.loaded = "1";
      if (!running && status !== "running") return;
      function tick() {
        if (document.hidden) { setTimeout(tick, 2000); return; }  // a background tab does not poll
        refresh(false).then(function (now) {
          if (now === "running") setTimeout(tick, 2000);
          else refresh(false);  // the points logged just before the end
        }, function () { setTimeout(tick, 4000); });
      }
      setTimeout(tick, 2000);
    }, function (err) {
      root.dataset.loaded = "error";
      if (empty) { empty.hidden = false; empty.textContent = "Metrics could not be loaded: " + err.message; }
    });
  }

  var metricsRoot = document.getElementById("metrics");
  if (metricsRoot && window.uPlot) runMetrics(metricsRoot);

  window.dosirakChart = { lineChart: lineChart, columns: columns, value: value, isNonFinite: isNonFinite,
                          describeNonFinite: describeNonFinite, fetchJSON: fetchJSON, seriesURL: seriesURL,
                          color: color, el: el };
})();
