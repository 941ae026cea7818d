// dosirak compare page: /api/compare (what `dosirak runs compare --json` prints) as tables,
// each metric's series of every run overlaid on one chart, and the steps' code diffs.
// Every value reaches the page through textContent.
(function () {
  "use strict";
  var C = window.dosirakChart;
  var root = document.getElementById("compare");
  if (!C || !root) return;
  var ids = root.dataset.runs.split(",");

  function shown(v) {
    if (v === undefined || v === null) return "–";
    if (typeof v === "number") return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(4)
      : String(Math.round(v * 1e5) / 1e5);
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }

  function seconds(s) { return s === null || s === undefined ? "–" : s.toFixed(s < 10 ? 2 : 1) + " s"; }

  function row(cells, cls) {
    var tr = C.el("tr", cls || "");
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }

  function headerRow(first) {
    var cells = [C.el("th", "", first)];
    ids.forEach(function (_, i) {
      var th = C.el("th", "num"), key = C.el("span", "key series-" + (i % 10));
      th.appendChild(key); th.appendChild(document.createTextNode("run " + (i + 1)));
      cells.push(th);
    });
    return row(cells);
  }

  function fill(table, head, rows, emptyText) {
    table.textContent = "";
    var thead = document.createElement("thead"), tbody = document.createElement("tbody");
    thead.appendChild(head); table.appendChild(thead); table.appendChild(tbody);
    if (!rows.length) {
      var td = C.el("td", "empty", emptyText); td.colSpan = ids.length + 1; tbody.appendChild(row([td]));
    }
    rows.forEach(function (r) { tbody.appendChild(r); });
  }

  function renderParameters(params) {
    fill(root.querySelector(".params-table"), headerRow("Parameter"), params.map(function (p) {
      var cells = [C.el("td", "param", p.name)];
      p.values.forEach(function (v) { cells.push(C.el("td", "param", shown(v))); });
      return row(cells, p.differs ? "differs" : "");
    }), "These runs have no parameters.");
  }

  function renderMetrics(metrics) {
    fill(root.querySelector(".metrics-compare"), headerRow("Metric"), metrics.map(function (m) {
      var cells = [C.el("td", "metric", m.key)];
      m.latest.forEach(function (v, i) {
        var td = C.el("td", "num metric" + (C.isNonFinite(v) ? " nonfinite" : ""), shown(v));
        if (m.lowest[i] !== null && m.lowest[i] !== undefined) {
          td.appendChild(C.el("span", "minmax", shown(m.lowest[i]) + " – " + shown(m.highest[i]) + " · " +
                              m.points[i] + " pt"));
        }
        cells.push(td);
      });
      return row(cells, m.differs ? "differs" : "");
    }), "None of these runs logged a metric.");
  }

  function renderSteps(steps) {
    fill(root.querySelector(".steps-compare"), headerRow("Step"), steps.map(function (s) {
      var cells = [C.el("td", "", s.name)];
      s.status.forEach(function (status, i) {
        var td = C.el("td", "num");
        if (status) {
          td.appendChild(C.el("span", "badge s-" + status, status + (s.cache_hit[i] ? " (cache hit)" : "")));
          td.appendChild(C.el("span", "minmax", seconds(s.duration_s[i]) +
                              (s.source_hash[i] ? " · code " + String(s.source_hash[i]).slice(0, 8) : "")));
        } else td.textContent = "–";
        cells.push(td);
      });
      return row(cells, s.source_differs || (s.inputs && s.inputs.length) ? "differs" : "");
    }), "No steps.");
    var diffs = root.querySelector(".diffs");
    diffs.textContent = "";
    steps.forEach(function (s) {
      (s.source_diffs || []).forEach(function (d) {
        var n = ids.indexOf(d.to_run) + 1;
        diffs.appendChild(C.el("h3", "", "Code of step " + s.name + ": run 1 → run " + n +
                               (d.truncated ? " (cut)" : "")));
        var pre = C.el("pre", "diff");
        pre.dataset.step = s.name;
        d.diff.split("\n").forEach(function (line) {
          var cls = line.indexOf("@@") === 0 ? "hunk" : line[0] === "+" && line.indexOf("+++") !== 0 ? "add"
            : line[0] === "-" && line.indexOf("---") !== 0 ? "del" : "";
          pre.appendChild(C.el("span", cls, line + "\n"));
        });
        diffs.appendChild(pre);
      });
      (s.inputs || []).forEach(function (input) {
        var p = C.el("p", "input-differs", "Input " + input.name + " of step " + s.name + " differs: ");
        input.artifact_id.forEach(function (aid, i) {
          if (i) p.appendChild(document.createTextNode(" · "));
          if (!aid) { p.appendChild(document.createTextNode("run " + (i + 1) + ": –")); return; }
          var a = C.el("a", "", "run " + (i + 1) + ": " + String(input.content_hash[i]).slice(0, 12));
          a.href = "/artifacts/" + encodeURIComponent(aid);
          p.appendChild(a);
        });
        diffs.appendChild(p);
      });
    });
  }

  // Each metric: every run's series, on one x axis (steps), one colour per run.
  function renderCharts(metrics) {
    var holder = root.querySelector(".charts");
    return Promise.all(metrics.map(function (m) {
      var box = C.el("div", "chart-box");
      box.dataset.key = m.key;
      box.appendChild(C.el("h3", "chart-title", m.key));
      var plot = C.el("div", "chart");
      box.appendChild(plot);
      var note = C.el("p", "chart-note muted small");
      box.appendChild(note);
      holder.appendChild(box);
      return Promise.all(ids.map(function (id, i) {
        if (m.points[i] === null || m.points[i] === undefined) return Promise.resolve({ points: [] });
        return C.fetchJSON(C.seriesURL(id, m.step, m.name) + "?max_points=1000");
      })).then(function (all) {
        var tables = [], modes = [], bad = [];
        all.forEach(function (s) {
          var cols = C.columns(s.points);
          tables.push([cols.xs, cols.ys]);
          modes.push([0, 1]);  // keep nulls (non-finite values) as gaps
          bad = bad.concat(cols.bad);
        });
        var data = uPlot.join(tables, modes);
        C.lineChart(plot, data, ids.map(function (_, i) { return { label: "run " + (i + 1) }; }),
                    { id: "compare:" + m.key, xLabel: "step", nonFinite: bad });
        var notes = all.map(function (s, i) { return C.describeNonFinite(s.points) ? "run " + (i + 1) + ": " +
          C.describeNonFinite(s.points) : ""; }).filter(Boolean);
        note.textContent = notes.join(" · ");
      });
    }));
  }

  C.fetchJSON("/api/compare?runs=" + ids.map(encodeURIComponent).join(",")).then(function (data) {
    renderParameters(data.parameters);
    renderMetrics(data.metrics);
    renderSteps(data.steps);
    return renderCharts(data.metrics);
  }).then(function () {
    root.dataset.loaded = "1";
  }, function (err) {
    var box = root.querySelector(".compare-error");
    box.hidden = false;
    box.textContent = "The comparison could not be loaded: " + err.message;
    root.dataset.loaded = "error";
  });
})();
