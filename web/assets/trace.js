// tokentrail trace page: draws the timeline and the link graph as inline SVG from the trace
// answer the server embedded in #trace-data. Log content is attacker-controlled: text is only
// ever set with textContent and attributes with setAttribute; no innerHTML with data.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, content, attrs) {
    var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }
  function title(parent, content) { el("title", {}, parent).textContent = content; }
  function category(action) {
    var family = String(action || "").split(".")[0];
    if (family === "token" || family === "auth" || family === "account" || family === "client") return "token";
    if (family === "job") return "job";
    if (family === "file" || family === "transfer") return "file";
    return "other";
  }
  function traceHref(kind, value) { return "/trace?" + kind + "=" + encodeURIComponent(value); }
  function ms(time) { return time ? Date.parse(time) : NaN; }
  function shortLabel(value, n) { value = String(value); return value.length > n ? value.slice(0, n - 1) + "…" : value; }
  function fmt(millis) { return new Date(millis).toISOString().replace("T", " ").slice(0, 16); }

  var dataNode = document.getElementById("trace-data");
  if (!dataNode) return;
  var answer = JSON.parse(dataNode.textContent);
  var filters = answer.filters || { show: "all", confidence: "any" };
  var incidentIds = {};
  (answer.incidents || []).forEach(function (incident) { incidentIds[incident.event_id] = incident.kind; });
  var events = (answer.events || []).filter(function (e) {
    return (filters.show === "all" || category(e.action) === filters.show) &&
      (filters.confidence === "any" || (e.link && e.link.confidence === filters.confidence));
  });

  function drawTimeline() {
    var box = document.getElementById("timeline");
    if (!box) return;
    while (box.firstChild) box.removeChild(box.firstChild);
    var timed = events.filter(function (e) { return !isNaN(ms(e.time)); });
    var jobs = (answer.jobs || []).filter(function (j) { return j.worker_node && !isNaN(ms(j.started || j.submitted)); });
    var lanes = [], laneIndex = {};
    function lane(name) {
      if (!(name in laneIndex)) { laneIndex[name] = lanes.length; lanes.push(name); }
      return laneIndex[name];
    }
    function laneOf(e) {
      if (e.worker_node) return "worker " + e.worker_node;
      return (e.service || e.source || "?") + " " + (e.host || "?");
    }
    timed.forEach(function (e) { lane(laneOf(e)); });
    jobs.forEach(function (j) { lane("worker " + j.worker_node); });
    var times = timed.map(function (e) { return ms(e.time); });
    jobs.forEach(function (j) {
      times.push(ms(j.started || j.submitted));
      if (!isNaN(ms(j.ended))) times.push(ms(j.ended));
    });
    var svg;
    if (times.length === 0) {
      svg = el("svg", { width: 400, height: 30, "data-marks": 0, "data-bars": 0 }, box);
      text(svg, 10, 20, "no timed events");
      box.setAttribute("data-ready", "1");
      return;
    }
    var t0 = Math.min.apply(null, times), t1 = Math.max.apply(null, times);
    if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
    var labelWidth = 230, plotWidth = Math.max(700, Math.min(1400, (box.clientWidth || 1100) - labelWidth - 20));
    var laneHeight = 22, top = 24;
    var height = top + lanes.length * laneHeight + 8;
    svg = el("svg", { width: labelWidth + plotWidth + 10, height: height, role: "img", "aria-label": "timeline" }, box);
    function x(millis) { return labelWidth + (millis - t0) / (t1 - t0) * plotWidth; }
    lanes.forEach(function (name, index) {
      var y = top + index * laneHeight;
      el("rect", { x: labelWidth, y: y + 1, width: plotWidth, height: laneHeight - 2, class: "lane" }, svg);
      text(svg, 4, y + 15, shortLabel(name, 34));
    });
    for (var tick = 0; tick <= 5; tick++) {
      var tx = t0 + (t1 - t0) * tick / 5;
      el("line", { x1: x(tx), x2: x(tx), y1: top - 4, y2: height - 6, class: "axis" }, svg);
      text(svg, x(tx) - 40, 14, fmt(tx));
    }
    var bars = 0;
    jobs.forEach(function (j) {
      var start = ms(j.started || j.submitted), end = ms(j.ended);
      if (isNaN(end)) end = t1;
      var y = top + laneIndex["worker " + j.worker_node] * laneHeight;
      var link = el("a", { href: traceHref("job", j.job_id || j.batch_job_id) }, svg);
      var bar = el("rect", { x: x(start), y: y + 4, width: Math.max(2, x(end) - x(start)), height: laneHeight - 8, class: "job-bar", "data-job": j.job_id }, link);
      title(bar, "job " + (j.job_id || j.batch_job_id) + " on " + j.worker_node + " " + (j.started || "") + " – " + (j.ended || ""));
      bars++;
    });
    var marks = 0;
    timed.forEach(function (e) {
      var cat = category(e.action);
      var y = top + laneIndex[laneOf(e)] * laneHeight + laneHeight / 2;
      var cls = "mark mark-" + cat + (incidentIds[e.id] ? " incident" : "");
      var shape;
      if (cat === "token") {
        var cx = x(ms(e.time));
        shape = el("polygon", { points: [cx, y - 6, cx + 6, y, cx, y + 6, cx - 6, y].join(" "), class: cls, "data-id": e.id }, svg);
      } else if (cat === "job") {
        shape = el("rect", { x: x(ms(e.time)) - 4, y: y - 4, width: 8, height: 8, class: cls, "data-id": e.id }, svg);
      } else {
        shape = el("circle", { cx: x(ms(e.time)), cy: y, r: 4.5, class: cls, "data-id": e.id }, svg);
      }
      title(shape, e.time + " " + e.action + " " + (e.outcome || "") + (e.path ? " " + e.path : "") +
        (e.client_ip ? " from " + e.client_ip : "") + (incidentIds[e.id] ? " [" + incidentIds[e.id] + "]" : ""));
      shape.addEventListener("click", function () { location.hash = "ev-" + e.id; });
      marks++;
    });
    svg.setAttribute("data-marks", marks);
    svg.setAttribute("data-bars", bars);
    box.setAttribute("data-ready", "1");
  }

  function drawGraph() {
    var box = document.getElementById("graph");
    if (!box) return;
    var columns = [[], [], [], []], nodes = {}, edges = {}, MAX = 40, hidden = [0, 0, 0, 0], hiddenKeys = {};
    function node(column, kind, value, label) {
      var key = kind + "\u0000" + value;
      if (!value) return null;
      if (!nodes[key]) {
        if (columns[column].length >= MAX) {
          if (!hiddenKeys[key]) { hiddenKeys[key] = true; hidden[column]++; }
          return null;
        }
        nodes[key] = { column: column, kind: kind, value: value, label: label || value, row: columns[column].length };
        columns[column].push(nodes[key]);
      }
      return nodes[key];
    }
    function edge(a, b) { if (a && b) edges[a.kind + a.value + "\u0000" + b.kind + b.value] = [a, b]; }
    (answer.identities || []).forEach(function (i) { node(0, "sub", i.sub, (i.usernames && i.usernames[0]) || i.sub); });
    (answer.tokens || []).forEach(function (t) { edge(node(0, "sub", t.sub), node(1, "jti", t.jti)); });
    (answer.jobs || []).forEach(function (j) {
      var job = node(2, "job", j.job_id || j.batch_job_id);
      if (j.jti) edge(node(1, "jti", j.jti), job); else edge(node(0, "sub", j.sub), job);
    });
    var jobsByNode = {};
    (answer.jobs || []).forEach(function (j) { if (j.worker_node) (jobsByNode[j.worker_node] = jobsByNode[j.worker_node] || []).push(j); });
    events.forEach(function (e) {
      var identity = e.sub ? node(0, "sub", e.sub) : null;
      var token = e.jti ? node(1, "jti", e.jti) : null;
      edge(identity, token);
      var job = e.job_id ? node(2, "job", e.job_id) : null;
      edge(token || identity, job);
      var cat = category(e.action);
      if (cat !== "file") return;
      var target = e.path ? node(3, "path", e.path) : (e.transfer_id ? node(3, "path", e.transfer_id) : null);
      if (!target) return;
      var from = job || token || identity;
      if (!from) {
        var candidates = jobsByNode[e.client_host] || jobsByNode[e.worker_node] || [];
        if (candidates.length) from = node(2, "job", candidates[0].job_id || candidates[0].batch_job_id);
      }
      edge(from, target);
    });
    var rowHeight = 24, columnWidth = 300, boxWidth = 250, headings = ["identities", "tokens", "jobs", "files and transfers"];
    var rows = Math.max(1, Math.max.apply(null, columns.map(function (c) { return c.length; })));
    var svg = el("svg", { width: 4 * columnWidth, height: 30 + rows * rowHeight + 24, role: "img", "aria-label": "link graph" }, box);
    function px(n) { return 10 + n.column * columnWidth; }
    function py(n) { return 30 + n.row * rowHeight; }
    headings.forEach(function (heading, index) {
      text(svg, 10 + index * columnWidth, 16, heading + " (" + columns[index].length + (hidden[index] ? ", " + hidden[index] + " more" : "") + ")", { "font-weight": "bold" });
    });
    Object.keys(edges).forEach(function (key) {
      var a = edges[key][0], b = edges[key][1];
      var x1 = px(a) + boxWidth, y1 = py(a) + 9, x2 = px(b), y2 = py(b) + 9;
      var mid = (x1 + x2) / 2;
      el("path", { d: "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2, class: "edge" }, svg);
    });
    var kindClass = { sub: "identity", jti: "token", job: "job", path: "file" };
    Object.keys(nodes).forEach(function (key) {
      var n = nodes[key];
      var group = el("a", { href: traceHref(n.kind, n.value), class: "node node-" + kindClass[n.kind], "data-kind": n.kind }, svg);
      el("rect", { x: px(n), y: py(n), width: boxWidth, height: 18 }, group);
      text(group, px(n) + 5, py(n) + 13, shortLabel(n.label, 40));
      title(group, n.kind + " " + n.value);
    });
    box.setAttribute("data-ready", "1");
  }

  drawTimeline();
  drawGraph();
})();
