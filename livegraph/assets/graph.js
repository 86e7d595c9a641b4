// The live graph: polls graph.json about once a second and draws the
// flow as SVG. Plain JavaScript, no library, no build step.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var svg = document.getElementById("graph");
  var WIDTH = 270, GAP = 240, ROWGAP = 36, LINE = 17, PAD = 10;

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function num(n) {
    if (n >= 1e6) { return (n / 1e6).toFixed(1) + "M"; }
    if (n >= 1e4) { return (n / 1e3).toFixed(1) + "k"; }
    if (n >= 100 || Number.isInteger(n)) { return String(Math.round(n)); }
    return n.toFixed(1);
  }

  // fit cuts a line to the width of a node box.
  function fit(s) {
    var most = Math.floor((WIDTH - 2 * PAD) / 6.5);
    return s.length <= most ? s : s.slice(0, most - 1) + "…";
  }

  function pct(f) {
    var p = f * 100;
    return (p < 10 ? p.toFixed(1) : String(Math.round(p))) + "%";
  }

  function secs(s) {
    if (s >= 60) { return (s / 60).toFixed(1) + " min"; }
    if (s >= 1) { return s.toFixed(1) + " s"; }
    return Math.round(s * 1000) + " ms";
  }

  // lines of text a node shows, title first.
  function nodeLines(n) {
    var lines = [{ cls: "title", text: n.id }, { cls: "sub", text: n.label }];
    if (n.demand) {
      lines.push({ cls: "sub", text: "demand " + num(n.demand.open) + "/" + num(n.demand.total) });
    }
    (n.stages || []).forEach(function (s) {
      lines.push({ cls: "stage-name", text: "• " + s.name + " (" + s.kind + ")", stage: s });
      lines.push({ cls: "fig", text: num(s.rate) + " msg/s · busy " + pct(s.busy) + " · " + num(s.failures) + " failed", stage: s });
    });
    if (n.kind !== "processors" && n.kind !== "source") {
      lines.push({ cls: n.failures > 0 ? "sub failed" : "sub", text: num(n.failures) + " failed" });
    }
    return lines;
  }

  function column(n, hasBatch) {
    switch (n.kind) {
      case "source": return 0;
      case "processors": return 1;
      case "batch": return 2;
      default: return hasBatch ? 3 : 2; // sinks, then the dead letter under them
    }
  }

  function layout(v) {
    var hasBatch = v.nodes.some(function (n) { return n.kind === "batch"; });
    var cols = [], pos = {};
    v.nodes.forEach(function (n) {
      var c = column(n, hasBatch);
      (cols[c] = cols[c] || []).push(n);
    });
    var heights = cols.map(function (ns) {
      return ns.reduce(function (h, n) { return h + nodeLines(n).length * LINE + 2 * PAD + ROWGAP; }, -ROWGAP);
    });
    var tallest = Math.max.apply(null, heights);
    cols.forEach(function (ns, c) {
      var y = 40 + (tallest - heights[c]) / 2;
      ns.forEach(function (n) {
        var h = nodeLines(n).length * LINE + 2 * PAD;
        pos[n.id] = { x: 10 + c * (WIDTH + GAP), y: y, w: WIDTH, h: h };
        y += h + ROWGAP;
      });
    });
    return { pos: pos, width: 20 + cols.length * (WIDTH + GAP) - GAP, height: tallest + 80 };
  }

  function drawEdge(g, e, a, b) {
    var x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
    var cls = "edge";
    if (e.to === "dead_letter") { cls += " dead"; }
    if (e.blocking > 0.05) { cls += " blocked"; } else if (e.rate > 0) { cls += " busy"; }
    var eg = el("g", { "class": cls, "data-from": e.from, "data-to": e.to, "data-rate": e.rate.toFixed(3) });
    eg.appendChild(el("path", { d: "M" + x1 + " " + y1 + " C" + (x1 + GAP / 2) + " " + y1 + " " + (x2 - GAP / 2) + " " + y2 + " " + x2 + " " + (y2 - 0) }));
    var lines = [];
    (e.label || "").split("\n").forEach(function (l) { if (l) { lines.push({ cls: "cond", text: l }); } });
    lines.push({ cls: "rate", text: num(e.rate) + " msg/s" });
    lines.push({ cls: "buf", text: "buffered " + num(e.buffered) + "/" + num(e.capacity) });
    lines.push({ cls: "blk", text: "blocked " + secs(e.blocked) + (e.blocking > 0 ? " (" + pct(e.blocking) + " of the time)" : "") });
    // Above the edge's end, where it runs level into its target: the
    // labels of edges fanning out to stacked sinks do not overlap.
    var mx = x2 - GAP / 2 + 8, my = y2 - 8 - (lines.length - 1) * LINE;
    lines.forEach(function (l, i) {
      eg.appendChild(el("text", { x: mx, y: my + i * LINE, "text-anchor": "middle", "class": l.cls }, l.text));
    });
    g.appendChild(eg);
  }

  function drawNode(g, n, p) {
    var ng = el("g", { "class": "node " + n.kind, "data-node": n.id });
    ng.appendChild(el("rect", { x: p.x, y: p.y, width: p.w, height: p.h }));
    var stage = null, sg = null;
    nodeLines(n).forEach(function (l, i) {
      var parent = ng;
      if (l.stage) {
        if (l.stage !== stage) {
          stage = l.stage;
          sg = el("g", { "class": "stage", "data-stage": stage.name, "data-rate": stage.rate.toFixed(3) });
          ng.appendChild(sg);
        }
        parent = sg;
      }
      var cls = l.cls + (l.stage && l.cls === "fig" && l.stage.failures > 0 ? " failed" : "");
      var text = el("text", { x: p.x + PAD, y: p.y + PAD + (i + 1) * LINE - 4, "class": cls }, fit(l.text));
      if (text.textContent !== l.text) { text.appendChild(el("title", {}, l.text)); } // the whole of it on hover
      parent.appendChild(text);
    });
    g.appendChild(ng);
  }

  function render(v) {
    var L = layout(v);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    svg.setAttribute("viewBox", "0 0 " + L.width + " " + L.height);
    svg.setAttribute("height", L.height);
    var defs = el("defs", {});
    var marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
    marker.appendChild(el("path", { d: "M0 0 L10 5 L0 10 z", fill: "#5b6b7c" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    var g = el("g", {});
    v.edges.forEach(function (e) {
      if (L.pos[e.from] && L.pos[e.to]) { drawEdge(g, e, L.pos[e.from], L.pos[e.to]); }
    });
    v.nodes.forEach(function (n) { drawNode(g, n, L.pos[n.id]); });
    svg.appendChild(g);
    document.getElementById("flow").textContent = v.flow;
    var t = v.totals;
    document.getElementById("totals").textContent = "in " + t.in + " · out " + t.out + " · filtered " + t.filtered +
      " · dead-lettered " + t.dead_lettered + " · nacked " + t.nacked + " · discarded " + t.discarded + " · lost " + t.lost;
  }

  function status(text, stale) {
    var s = document.getElementById("status");
    s.textContent = text;
    s.className = stale ? "stale" : "";
  }

  function tick() {
    fetch("graph.json", { cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("graph.json: " + r.status); } return r.json(); })
      .then(function (v) {
        render(v);
        status((v.ready ? "running" : "not running") + " · updated " + new Date().toLocaleTimeString(), false);
      })
      .catch(function (err) { status("the run does not answer (" + err.message + "); retrying", true); })
      .then(function () { setTimeout(tick, 1000); });
  }
  tick();
})();
