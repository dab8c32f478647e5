// The page of `cnncalc view`: it draws the graph from the layout cnncalc computed
// (cnncalc/present/view.py lay_out), and handles clicks. It lays nothing out: collapsing
// blocks hides strips of that layout and moves what lies below up (place, the same steps
// as view.py place()).
(function(){
"use strict";

// Which boxes, frames and edges show for a set of collapsed blocks, and where: the
// strips that stay keep their order, the others are taken away. L: the "layout" record.
function place(L, collapsed){
  const W = L.nodeW;
  const rep = L.units.map(u => { for (const g of u[3]) if (collapsed.has(g)) return "g:" + g; return u[0]; });
  const blocks = new Map(L.blocks);
  const at = new Map();
  rep.forEach((r, i) => {
    if (!at.has(r)) at.set(r, r === L.units[i][0] ? [L.units[i][1], L.units[i][2]] : blocks.get(r.slice(2)).box);
  });
  const framed = L.blocks.filter(([name, b]) => !collapsed.has(name) && !b.outer.some(p => collapsed.has(p)));
  const rows = new Set(Array.from(at.values(), a => L.slabs[a[1]][1]));
  const keep = new Set();
  L.slabs.forEach((s, i) => { if (s[0] === "end" || ((s[0] === "gap" || s[0] === "box") && rows.has(s[1]))) keep.add(i); });
  const ends = new Map();
  for (const [name, b] of framed){
    const rs = b.members.map(i => L.slabs[at.get(rep[i])[1]][1]);
    const first = Math.min(...rs), last = Math.max(...rs);
    ends.set(name, [first, last]);
    keep.add(b.head[first]); keep.add(b.foot[last]);
  }
  const top = [];
  let removed = 0;
  L.slabs.forEach((s, i) => { top.push(s[2] - removed); if (!keep.has(i)) removed += s[3]; });
  const boxes = new Map();
  for (const [k, a] of at) boxes.set(k, [a[0], top[a[1]]]);
  const where = new Map(L.units.map((u, i) => [u[0], rep[i]]));
  const seen = new Set(), visible = [];
  L.edges.forEach((e, i) => {
    const a = where.get(e[0]), b = where.get(e[1]), k = a + "\u0000" + b + "\u0000" + e[2];
    if (a !== b && !seen.has(k)){ seen.add(k); visible.push(i); }
  });
  const shown = new Set(visible);
  const clusters = new Map();
  for (const [name, b] of framed){
    const xs = b.members.map(i => boxes.get(rep[i])[0]);
    for (const i of b.lanes) if (shown.has(i)) xs.push(L.edges[i][3]);
    const [first, last] = ends.get(name);
    clusters.set(name, [Math.min(...xs) - b.margin, top[b.head[first]], Math.max(...xs) + W + b.margin,
                        top[b.foot[last]] + L.foot]);
  }
  const edges = visible.map(i => {
    const e = L.edges[i], p = boxes.get(where.get(e[0])), q = boxes.get(where.get(e[1]));
    return [i, edgePath(L, p[0] + W / 2, p[1] + L.nodeH, q[0] + W / 2, q[1], e[3] === null ? null : e[3] + W / 2)];
  });
  const end = L.slabs[L.slabs.length - 1];
  return {boxes, clusters, edges, width: L.width, height: end[2] + end[3] - removed + L.margin};
}
// an edge from the bottom centre of one box to the top centre of another: a curve, or
// down its lane (view.py edge_path)
function edgePath(L, x1, y1, x2, y2, lane){
  if (lane === null || y2 - y1 <= L.curveMax){
    const d = (y2 - y1) / 2;
    return `M${x1},${y1} C${x1},${y1 + d} ${x2},${y2 - d} ${x2},${y2}`;
  }
  return `M${x1},${y1} C${x1},${y1 + 14} ${lane},${y1 + 6} ${lane},${y1 + 22} ` +
    `L${lane},${y2 - 22} C${lane},${y2 - 6} ${x2},${y2 - 14} ${x2},${y2}`;
}
if (typeof document === "undefined"){ module.exports = {place, edgePath}; return; }  // node, for tests/test_view.py

const D = JSON.parse(document.getElementById("cnncalc-data").textContent);
const L = D.layout, NS = "http://www.w3.org/2000/svg";
const svg = document.querySelector("#graph svg");
const collapsed = new Set(D.collapsed);
const nodeEl = new Map(), proxyEl = new Map(), clusterEl = new Map(), headEl = new Map();
svg.querySelectorAll("g.node").forEach(e => nodeEl.set(e.dataset.name, e));
svg.querySelectorAll("g.proxy").forEach(e => proxyEl.set(e.dataset.group, e));
svg.querySelectorAll("rect.cluster").forEach(e => clusterEl.set(e.dataset.group, e));
svg.querySelectorAll("text.hd").forEach(e => headEl.set(e.dataset.group, e));
const edgeEl = Array.from(svg.querySelectorAll("path.edge"));
function put(el, b){
  el.style.display = b ? "" : "none";
  if (b) el.setAttribute("transform", `translate(${b[0]},${b[1]})`);
}
function drawGraph(){
  const P = place(L, collapsed);
  for (const [name, el] of nodeEl) put(el, P.boxes.get(name));
  for (const [name, el] of proxyEl) put(el, P.boxes.get("g:" + name));
  for (const [name, el] of clusterEl){
    const c = P.clusters.get(name), text = headEl.get(name);
    el.style.display = text.style.display = c ? "" : "none";
    if (!c) continue;
    el.setAttribute("x", c[0]); el.setAttribute("y", c[1]);
    el.setAttribute("width", c[2] - c[0]); el.setAttribute("height", c[3] - c[1]);
    text.setAttribute("x", c[0] + 6); text.setAttribute("y", c[1] + 13);
  }
  const paths = new Map(P.edges);
  for (const el of edgeEl){
    const d = paths.get(+el.dataset.i);
    el.style.display = d ? "" : "none";
    if (d) el.setAttribute("d", d);
  }
  svg.setAttribute("width", P.width); svg.setAttribute("height", P.height);
  svg.setAttribute("viewBox", `0 0 ${P.width} ${P.height}`);
}
for (const [name, el] of headEl) el.addEventListener("click", () => { collapsed.add(name); drawGraph(); });
for (const [name, el] of proxyEl) el.addEventListener("click", () => { collapsed.delete(name); drawGraph(); });
document.getElementById("expand-all").addEventListener("click", () => { collapsed.clear(); drawGraph(); });
document.getElementById("collapse-all").addEventListener("click", () => {
  for (const [name, b] of L.blocks) if (!b.outer.length) collapsed.add(name); drawGraph(); });

// -- sortable table
const table = document.getElementById("layers");
table.querySelectorAll("th").forEach(th => th.addEventListener("click", () => {
  const col = +th.dataset.col, numeric = th.dataset.kind === "n";
  const asc = !th.classList.contains("asc");
  table.querySelectorAll("th").forEach(h => h.classList.remove("asc", "desc"));
  th.classList.add(asc ? "asc" : "desc");
  const body = table.tBodies[0], rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.v, z = b.cells[col].dataset.v;
    const c = numeric ? (+x) - (+z) : x.localeCompare(z);
    return asc ? c : -c;
  });
  for (const r of rows) body.appendChild(r);
}));

// -- the receptive field of one unit on the input grid
function at(table, o){  // cnncalc.core.rf.AxisField.at: union over the components
  let lo = null, hi = null;
  for (const [period, slope, los, his] of table){
    const q = Math.floor(o / period), r = o - q * period;
    if (los[r] === null) continue;
    const a = los[r] + slope * q, b = his[r] + slope * q;
    lo = lo === null ? a : Math.min(lo, a); hi = hi === null ? b : Math.max(hi, b);
  }
  return [lo, hi];
}
function lcm(a, b){ let x = a, y = b; while (y){ [x, y] = [y, x % y]; } return a / x * b; }
function periodOf(table){ return table.reduce((p, c) => lcm(p, c[0]), 1); }
if (D.default){  // the script's evaluation must give what Python computed
  const f = D.fields[D.default.layer];
  f.forEach((t, k) => {
    if (t === null || t === "long") return;
    const got = at(t, D.default.unit[k]), want = D.default.extent[k];
    if (got[0] !== want[0] || got[1] !== want[1] || periodOf(t) !== D.default.period[k])
      console.error("cnncalc view: receptive field of unit " + D.default.unit + " differs on axis " + k);
  });
}
const sel = document.getElementById("rf-layer"), unitsBox = document.getElementById("rf-units");
const grid = document.getElementById("rf-grid"), text = document.getElementById("rf-text");
for (const name of Object.keys(D.fields)){
  const o = document.createElement("option"); o.value = name; o.textContent = name; sel.appendChild(o);
}
const inputs = [];
function el(tag, attrs, parent){
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e); return e;
}
const PHASE = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22"];
function selectLayer(name, unit){
  if (!(name in D.fields)){ text.textContent = name + ": no receptive field (global, or no spatial axes)"; grid.textContent = ""; return; }
  sel.value = name;
  const shape = D.shapes[name].slice(1);
  unitsBox.textContent = "unit ";
  inputs.length = 0;
  shape.forEach((n, k) => {
    const inp = document.createElement("input");
    inp.type = "number"; inp.min = 0; inp.max = n - 1;
    inp.value = unit ? unit[k] : Math.floor(n / 2);
    inp.addEventListener("change", draw);
    unitsBox.appendChild(inp); inputs.push(inp);
    const s = document.createElement("span"); s.textContent = " of " + n + (k < shape.length - 1 ? " × " : "");
    unitsBox.appendChild(s);
  });
  document.querySelectorAll(".sel").forEach(e => e.classList.remove("sel"));
  const g = nodeEl.get(name); if (g) g.classList.add("sel");
  document.querySelectorAll(`[data-name]`).forEach(e => { if (e.dataset.name === name && e.tagName !== "g") e.classList.add("sel"); });
  draw();
}
function draw(){
  const name = sel.value, f = D.fields[name], shape = D.shapes[name].slice(1);
  const unit = inputs.map((inp, k) => Math.max(0, Math.min(shape[k] - 1, Math.floor(+inp.value || 0))));
  grid.textContent = ""; text.textContent = "";
  const nd = D.input.length, show = nd >= 2 ? [nd - 2, nd - 1] : [0];
  // per axis: null (every position reaches it), "none" (it sees no input: the zeros a
  // transposed convolution inserts), or [first, last] input position
  const ev = (t, o) => { if (t === null || t === "long") return null; const e = at(t, o); return e[0] === null ? "none" : e; };
  const ext = f.map((t, k) => ev(t, unit[k]));
  const per = f.map(t => (t === null || t === "long") ? 1 : periodOf(t));
  // the units drawn: the chosen one; along each axis whose fields repeat with a period
  // (upsampling, transposed convolution), the other runs of units of its period that
  // see a different field; without a period, the next unit (one effective stride on)
  const others = [];
  const axn = nd === 1 ? ["L"] : nd === 2 ? ["H", "W"] : ["D", "H", "W"];
  for (const k of show){
    if (per[k] <= 1 || ext[k] === null) continue;  // (a unit that sees nothing still has phases)
    const base = unit[k] - (unit[k] % per[k]);
    let run = null;
    const runs = [];
    for (let j = 0; j < per[k] && base + j < shape[k]; j++){
      const e = ev(f[k], base + j);
      if (run && (run.e === e || (Array.isArray(e) && Array.isArray(run.e) && run.e[0] === e[0] && run.e[1] === e[1]))) run.last = base + j;
      else { run = {first: base + j, last: base + j, e: e}; runs.push(run); }
    }
    for (const r of runs){
      if (r.first <= unit[k] && unit[k] <= r.last) continue;
      if (others.length >= 8) break;
      const e = ext.slice(); e[k] = r.e;
      const u = unit.slice(); u[k] = r.first;
      others.push({unit: u, ext: e, phase: true, label: `${axn[k]} units ${r.first}` +
        (r.last > r.first ? `–${r.last}` : "") + ` (phase ${r.first - base}` +
        (r.last > r.first ? `–${r.last - base}` : "") + ` of ${per[k]})`});
    }
  }
  if (!others.length){
    const u = unit.slice(), k = show[show.length - 1];
    if (u[k] + 1 < shape[k]){ u[k] += 1; others.push({unit: u, ext: f.map((t, j) => ev(t, u[j])), phase: false, label: "next unit (" + u.join(", ") + ")"}); }
  }
  // the viewport: the input and every field drawn
  const lim = show.map(k => {
    let lo = 0, hi = D.input[k] - 1;
    for (const e of [ext, ...others.map(o => o.ext)]) if (Array.isArray(e[k])){ lo = Math.min(lo, e[k][0]); hi = Math.max(hi, e[k][1]); }
    return [lo - 1, hi + 1];
  });
  const W = 460, spanX = lim[lim.length - 1][1] - lim[lim.length - 1][0] + 1;
  const spanY = show.length === 2 ? lim[0][1] - lim[0][0] + 1 : 1;
  const px = Math.min(W / spanX, show.length === 2 ? W / spanY : 40);
  const s = el("svg", {width: spanX * px + 40, height: spanY * px + 40}, grid);
  const X = v => 30 + (v - lim[lim.length - 1][0]) * px;
  const Y = v => show.length === 2 ? 10 + (v - lim[0][0]) * px : 10;
  const rectOf = e => {
    if (show.some(k => e[k] === "none")) return null;
    const ex = e[show[show.length - 1]], ey = show.length === 2 ? e[show[0]] : [0, 0];
    const full = show.map(k => D.input[k]);
    const xs = ex || [0, full[full.length - 1] - 1], ys = show.length === 2 ? (ey || [0, full[0] - 1]) : [0, 0];
    return [X(xs[0]), Y(ys[0]), (xs[1] - xs[0] + 1) * px, (ys[1] - ys[0] + 1) * px];
  };
  el("rect", {x: 30, y: 10, width: spanX * px, height: spanY * px, fill: "url(#hatch)", stroke: "none"}, s);
  const defs = el("defs", {}, s);
  const pat = el("pattern", {id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"}, defs);
  el("rect", {width: 6, height: 6, fill: "#f6f6f6"}, pat);
  el("line", {x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#ddd", "stroke-width": 2}, pat);
  const nIn = show.map(k => D.input[k]);
  el("rect", {x: X(0), y: Y(0), width: nIn[nIn.length - 1] * px, height: (show.length === 2 ? nIn[0] : 1) * px, fill: "#fff", stroke: "#333"}, s);
  if (px >= 5){  // the pixel grid, as the lectures draw it
    for (let v = lim[lim.length - 1][0]; v <= lim[lim.length - 1][1] + 1; v++)
      el("line", {x1: X(v), x2: X(v), y1: 10, y2: 10 + spanY * px, stroke: "#ccc", "stroke-width": .6}, s);
    if (show.length === 2) for (let v = lim[0][0]; v <= lim[0][1] + 1; v++)
      el("line", {x1: 30, x2: 30 + spanX * px, y1: Y(v), y2: Y(v), stroke: "#ccc", "stroke-width": .6}, s);
  }
  const r = rectOf(ext);
  if (r) el("rect", {x: r[0], y: r[1], width: r[2], height: r[3], fill: "rgba(31,95,168,.35)", stroke: "#1f5fa8", "stroke-width": 2}, s);
  others.forEach((o, i) => {
    const q = rectOf(o.ext);
    if (q) el("rect", {x: q[0] + 1, y: q[1] + 1, width: Math.max(q[2] - 2, 1), height: Math.max(q[3] - 2, 1), fill: "none",
                stroke: o.phase ? PHASE[i % PHASE.length] : "#777", "stroke-width": 1.5, "stroke-dasharray": "5,3"}, s);
  });
  if (r) el("circle", {cx: r[0] + r[2] / 2, cy: r[1] + r[3] / 2, r: 3.5, fill: "#d00"}, s);
  // the input's frame again, on top: visible even inside a field larger than the input
  el("rect", {x: X(0), y: Y(0), width: nIn[nIn.length - 1] * px, height: (show.length === 2 ? nIn[0] : 1) * px, fill: "none", stroke: "#333", "stroke-width": 1.2}, s);
  const t = el("text", {x: 30, y: spanY * px + 30, "font-size": 11}, s);
  t.textContent = "input " + nIn.join("×") + " (white), padding hatched; " + px.toFixed(px < 1 ? 2 : 1) + " px per input pixel";
  // the figures
  const p = document.createElement("p");
  p.textContent = `${name}, unit (${unit.join(", ")}): ` + ext.map((e, k) => e === null ? `${axn[k]}: every position` : e === "none" ? `${axn[k]}: no input position (it reads only inserted zeros)` :
    `${axn[k]} ${e[0]}..${e[1]} (${e[1] - e[0] + 1} px)`).join(", ");
  text.appendChild(p);
  const tb = document.createElement("table");
  const addRow = (sw, label, e) => {
    const tr = tb.insertRow(), c0 = tr.insertCell(), c1 = tr.insertCell(), c2 = tr.insertCell();
    const sp = document.createElement("span"); sp.className = "sw"; sp.style.borderColor = sw; sp.style.background = sw === "#1f5fa8" ? "rgba(31,95,168,.35)" : "none";
    sp.style.borderStyle = sw === "#1f5fa8" ? "solid" : "dashed"; c0.appendChild(sp);
    c1.textContent = label; c2.textContent = e.map(x => x === null ? "all" : x === "none" ? "none" : `${x[0]}..${x[1]}`).join(" × ");
  };
  addRow("#1f5fa8", "unit (" + unit.join(", ") + ")", ext);
  others.forEach((o, i) => addRow(o.phase ? PHASE[i % PHASE.length] : "#777", o.label, o.ext));
  text.appendChild(tb);
  const note = document.createElement("p");
  const ph = per.map((v, k) => v > 1 ? `${axn[k]}: period ${v}` : null).filter(x => x);
  note.textContent = (ph.length ? "Units repeat their pattern of fields every " + ph.join(", ") + " units (upsampling or a transposed convolution upstream); within one period, runs of units share a field: the outlined fields are the other runs of the chosen unit's period." :
    "Every unit has a field of the same size; the outlined one is the next unit, one effective stride further.") +
    (f.some(t => t === "long") ? " (Some axis has too long a period to draw.)" : "");
  text.appendChild(note);
}
sel.addEventListener("change", () => selectLayer(sel.value));
function pick(name){ if (name in D.fields) { selectLayer(name); document.getElementById("rf-sec").scrollIntoView(); } }
for (const [name, e] of nodeEl) e.addEventListener("click", () => pick(name));
document.querySelectorAll("svg.chart .hit").forEach(e => e.addEventListener("click", () => pick(e.dataset.name)));
table.tBodies[0].addEventListener("click", ev => { const tr = ev.target.closest("tr"); if (tr) pick(tr.dataset.name); });
drawGraph();
if (D.default) selectLayer(D.default.layer, D.default.unit);
window.cnncalcFieldAt = at;  // for benchmarks/view_screenshots.py
document.body.dataset.ready = "1";
})();
