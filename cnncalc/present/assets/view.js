// The page of `cnncalc view`: it draws the graph from the layout cnncalc computed
// (cnncalc/present/view.py lay_out), and handles clicks. It lays nothing out: collapsing
// blocks hides strips of that layout and moves what lies below up (place, the same steps
// as view.py place()).
(function(){
"use strict";

// Which boxes, frames and edges show for a set of collapsed blocks, and where: the
// strips that stay keep their order, the others are taken away. L: the "layout" record.
function place(L, collapsed, width, height){
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
  const clusters = new Map(), rooms = new Map();
  for (const [name, b] of framed){
    const xs = b.members.map(i => boxes.get(rep[i])[0]);
    const [first, last] = ends.get(name);
    const headRow = b.members.map(i => at.get(rep[i])).filter(a => L.slabs[a[1]][1] === first).map(a => a[0]);
    for (const i of b.lanes) if (shown.has(i)) xs.push(L.edges[i][3]);
    clusters.set(name, [Math.min(...xs) - b.margin, top[b.head[first]], Math.max(...xs) + W + b.margin,
                        top[b.foot[last]] + L.foot]);
    rooms.set(name, Math.min(...headRow) + W / 2 - L.labelClear - (Math.min(...xs) - b.margin + L.labelX));
  }
  const ends2 = [], gapOf = new Map();
  L.slabs.forEach((s, i) => { if (s[0] === "gap") gapOf.set(s[1], i); });
  const edges = visible.map(i => {
    const e = L.edges[i], p = boxes.get(where.get(e[0])), q = boxes.get(where.get(e[1]));
    ends2.push([p[0] + W / 2, p[1] + L.nodeH, q[0] + W / 2, q[1], e[3] === null ? null : e[3] + W / 2,
                top[gapOf.get(L.slabs[at.get(where.get(e[1]))[1]][1])]]);
    return [i, edgePath(L, ...ends2[ends2.length - 1])];
  });
  const end = L.slabs[L.slabs.length - 1];
  const P = {boxes, clusters, pieces: new Map(), edges, rooms, ends: ends2, cuts: L.cuts.filter(i => keep.has(i)).map(i => top[i]),
             width: L.width, height: end[2] + end[3] - removed + L.margin};
  return width ? wrap(L, P, width, height) : P;
}
// the drawing in columns side by side that fit width (view.py wrap, the same steps): cut
// only where the layout allows (between stages), the shortest columns that fit
function columnsOf(tops, bottoms, limit){
  const starts = [0];
  for (let s = 1; s < tops.length; s++) if (bottoms[s] - tops[starts[starts.length - 1]] > limit) starts.push(s);
  return starts;
}
function wrap(L, P, width, height){
  if (!P.cuts.length || !width || (height && P.height <= height)) return P;
  const M = L.margin, G = L.gutter, W = L.nodeW;
  const cuts = P.cuts.slice().sort((a, b) => a - b);
  const tops = [M, ...cuts.map(c => c + L.gap)], bottoms = [...cuts, P.height - M - L.gap];
  const seg = y => { let lo = 0, hi = cuts.length; while (lo < hi){ const m = (lo + hi) >> 1; if (cuts[m] <= y) lo = m + 1; else hi = m; } return lo; };
  const loX = tops.map(() => Infinity), hiX = tops.map(() => -Infinity);
  const widen = (s, a, b) => { loX[s] = Math.min(loX[s], a); hiX[s] = Math.max(hiX[s], b); };
  for (const [x, y] of P.boxes.values()) widen(seg(y), x, x + W);
  for (const [x0, y0, x1, y1] of P.clusters.values()) for (let s = seg(y0); s <= seg(y1 - 1); s++) widen(s, x0, x1);
  for (const [, y1, , y2, lane] of P.ends) if (lane !== null) for (let s = seg(y1 - L.nodeH); s <= seg(y2); s++) widen(s, lane, lane);
  const upTo = (starts, j) => j + 1 < starts.length ? starts[j + 1] : tops.length;
  const packed = starts => {
    const shifts = []; let cursor = G / 2;
    starts.forEach((a, j) => {
      const b = upTo(starts, j), left = Math.min(...loX.slice(a, b)), right = Math.max(...hiX.slice(a, b));
      shifts.push(cursor - left); cursor += right - left + G;
    });
    return [shifts, cursor - G / 2];
  };
  let best = null;
  const tallest = Math.max(...tops.map((t, s) => bottoms[s] - t));
  for (let k = 1; k <= tops.length; k++){
    let lo = Math.floor(tallest), hi = Math.ceil(bottoms[bottoms.length - 1] - tops[0]);
    while (lo < hi){ const mid = Math.floor((lo + hi) / 2); if (columnsOf(tops, bottoms, mid).length <= k) hi = mid; else lo = mid + 1; }
    const starts = columnsOf(tops, bottoms, lo), [shifts, total] = packed(starts);
    if (starts.length < k || (k > 1 && total > width)) break;
    best = [starts, shifts, total];
  }
  if (!best || best[0].length === 1) return P;
  const [starts, shifts, total] = best;
  const colOf = tops.map(() => 0);
  starts.forEach((a, j) => { for (let s = a; s < tops.length; s++) colOf[s] = j; });
  const dx = tops.map((_, s) => shifts[colOf[s]]), dy = tops.map((_, s) => M - tops[starts[colOf[s]]]);
  const right = starts.map((a, j) => Math.max(...hiX.slice(a, upTo(starts, j))) + shifts[j]);
  const bottom = starts.map((a, j) => bottoms[upTo(starts, j) - 1] + M - tops[a]);
  const boxes = new Map(), clusters = new Map(), pieces = new Map();
  for (const [k, [x, y]] of P.boxes){ const s = seg(y); boxes.set(k, [x + dx[s], y + dy[s]]); }
  for (const [k, [x0, y0, x1, y1]] of P.clusters){
    const s = seg(y0), t = seg(y1 - 1), a = colOf[s], b = colOf[t];
    if (a === b){ clusters.set(k, [x0 + dx[s], y0 + dy[s], x1 + dx[s], y1 + dy[s]]); continue; }
    // a top-level frame cut at a column's end: its first piece, then one per column it goes on in
    clusters.set(k, [x0 + dx[s], y0 + dy[s], x1 + dx[s], bottom[a] + L.foot]);
    const rest = [];
    for (let c = a + 1; c <= b; c++) rest.push([x0 + shifts[c], M - L.foot, x1 + shifts[c], c < b ? bottom[c] + L.foot : y1 + dy[t]]);
    pieces.set(k, rest);
  }
  const ends = [];
  const edges = P.edges.map(([i], n) => {
    const [x1, y1, x2, y2, lane, turn] = P.ends[n], a = seg(y1 - L.nodeH), b = seg(y2);
    const lx = lane === null ? null : lane + dx[b];
    const p1 = x1 + dx[a], q1 = y1 + dy[a], p2 = x2 + dx[b], q2 = y2 + dy[b];
    ends.push([p1, q1, p2, q2, lx, turn + dy[b]]);
    if (colOf[a] === colOf[b]) return [i, edgePath(L, p1, q1, p2, q2, lane === null ? null : lane + dx[a], turn + dy[b])];
    const g = right[colOf[a]] + G / 2, yb = bottom[colOf[a]] + L.gap - 6, yt = M / 2;
    let d = `M${p1},${q1} L${p1},${yb} L${g},${yb} L${g},${yt} `;
    if (lx === null || q2 - M <= L.curveMax) d += `L${p2},${yt} L${p2},${q2}`;
    else d += `L${lx},${yt} L${lx},${q2 - 22} C${lx},${q2 - 6} ${p2},${q2 - 14} ${p2},${q2}`;
    return [i, d];
  });
  return {boxes, clusters, pieces, edges, rooms: P.rooms, ends, cuts: [], width: total, height: Math.max(...bottom) + L.gap + M};
}
// an edge from the bottom centre of one box to the top centre of another: a curve, or
// down its lane (view.py edge_path)
function edgePath(L, x1, y1, x2, y2, lane, turn){
  if (lane === null || y2 - y1 <= L.curveMax){
    // straight down to the gap above the target's row, a turn inside it, straight down
    // through the headers above the target (view.py edge_path)
    if (turn !== undefined && turn - y1 >= 0 && turn - y1 < L.nodeH && turn + L.gap <= y2){
      const m = turn + L.gap / 2;
      return `M${x1},${y1} ` + (turn > y1 ? `L${x1},${turn} ` : "") + `C${x1},${m} ${x2},${m} ${x2},${turn + L.gap}` +
        (y2 > turn + L.gap ? ` L${x2},${y2}` : "");
    }
    const d = (y2 - y1) / 2;
    return `M${x1},${y1} C${x1},${y1 + d} ${x2},${y2 - d} ${x2},${y2}`;
  }
  return `M${x1},${y1} C${x1},${y1 + 14} ${lane},${y1 + 6} ${lane},${y1 + 22} ` +
    `L${lane},${y2 - 22} C${lane},${y2 - 6} ${x2},${y2 - 14} ${x2},${y2}`;
}
if (typeof document === "undefined"){ module.exports = {place, edgePath, wrap}; return; }  // node, for tests/test_view.py

const D = JSON.parse(document.getElementById("cnncalc-data").textContent);
const L = D.layout, NS = "http://www.w3.org/2000/svg";
const svg = document.querySelector("#graph svg");  // null on a page of the chart only (--what rf)
const scroller = document.getElementById("graph");
const collapsed = new Set(D.collapsed);
const nodeEl = new Map(), proxyEl = new Map(), clusterEl = new Map(), headEl = new Map();
const edgeEl = svg ? Array.from(svg.querySelectorAll("path.edge")) : [];
if (svg){
  svg.querySelectorAll("g.node").forEach(e => nodeEl.set(e.dataset.name, e));
  svg.querySelectorAll("g.proxy").forEach(e => proxyEl.set(e.dataset.group, e));
  svg.querySelectorAll("rect.cluster").forEach(e => clusterEl.set(e.dataset.group, e));
  svg.querySelectorAll("text.hd").forEach(e => headEl.set(e.dataset.group, e));
}
let zoom = 1, P = null;
function put(el, b){
  el.style.display = b ? "" : "none";
  if (b) el.setAttribute("transform", `translate(${b[0]},${b[1]})`);
}
// a name or shorthand that is wider than its box loses characters until it fits, with an
// ellipsis (its full text stays in data-full and the box's tooltip); only in a browser
function fitText(g){
  if (g.dataset.fit) return;
  for (const t of g.querySelectorAll("text")){
    if (!t.dataset.full || typeof t.getComputedTextLength !== "function") continue;
    const room = L.nodeW - 12;
    t.textContent = t.dataset.full;
    if (t.getComputedTextLength() <= room) continue;
    let lo = 0, hi = t.dataset.full.length;
    while (lo < hi){
      const mid = Math.ceil((lo + hi) / 2);
      t.textContent = t.dataset.full.slice(0, mid) + "…";
      if (t.getComputedTextLength() <= room) lo = mid; else hi = mid - 1;
    }
    t.textContent = t.dataset.full.slice(0, lo) + "…";
  }
  g.dataset.fit = "1";
}
// a block header's label: cut (measured, with an ellipsis) to the room before the first
// edge that enters its frame; the full label stays in data-full and the tooltip
function fitHead(t, room){
  const span = t.querySelector("tspan");
  if (!span || typeof span.getComputedTextLength !== "function" || +span.dataset.room === room) return;
  span.dataset.room = room;
  const full = span.dataset.full;
  span.textContent = full;
  if (span.getComputedTextLength() <= room) return;
  let lo = 0, hi = full.length;
  while (lo < hi){
    const mid = Math.ceil((lo + hi) / 2);
    span.textContent = full.slice(0, mid) + "…";
    if (span.getComputedTextLength() <= room) lo = mid; else hi = mid - 1;
  }
  span.textContent = full.slice(0, Math.max(lo, 1)) + "…";
}
// the graph wraps into the width its box shows at 100 %, when one column is taller than
// the box (0 where it has none: one column)
const wrapWidth = () => (scroller && scroller.clientWidth) || 0;
const wrapHeight = () => (scroller && scroller.clientHeight) || 0;
function drawGraph(){
  if (!svg) return;
  P = place(L, collapsed, wrapWidth(), wrapHeight());
  for (const [name, el] of nodeEl){ put(el, P.boxes.get(name)); if (P.boxes.has(name)) fitText(el); }
  for (const [name, el] of proxyEl){ put(el, P.boxes.get("g:" + name)); if (P.boxes.has("g:" + name)) fitText(el); }
  for (const [name, el] of clusterEl){
    const c = P.clusters.get(name), text = headEl.get(name);
    el.style.display = text.style.display = c ? "" : "none";
    if (!c) continue;
    el.setAttribute("x", c[0]); el.setAttribute("y", c[1]);
    el.setAttribute("width", c[2] - c[0]); el.setAttribute("height", c[3] - c[1]);
    text.setAttribute("x", c[0] + L.labelX); text.setAttribute("y", c[1] + 13);
    fitHead(text, P.rooms.get(name));
  }
  // the pieces of frames that go on in another column, drawn afresh
  const holder = svg.querySelector("g.pieces");
  if (holder){
    holder.textContent = "";
    for (const [name, rects] of P.pieces) for (const [x0, y0, x1, y1] of rects)
      el("rect", {class: "piece", "data-group": name, x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 8}, holder);
  }
  const paths = new Map(P.edges);
  for (const el of edgeEl){
    const d = paths.get(+el.dataset.i);
    el.style.display = d ? "" : "none";
    if (d) el.setAttribute("d", d);
  }
  sizeGraph();
}
// zoom: the drawing keeps its coordinates (viewBox) and is shown zoom times its size;
// the scrolling box around it pans
function sizeGraph(){
  svg.setAttribute("width", P.width * zoom); svg.setAttribute("height", P.height * zoom);
  svg.setAttribute("viewBox", `0 0 ${P.width} ${P.height}`);
  svg.dataset.zoom = zoom;
}
function zoomTo(z, cx, cy){  // keep the drawing's point under (cx, cy) of the box where it is
  if (!svg) return;
  z = Math.max(0.05, Math.min(4, z));
  const w = scroller.clientWidth || 0, h = scroller.clientHeight || 0;
  if (cx === undefined){ cx = w / 2; cy = h / 2; }
  const gx = ((scroller.scrollLeft || 0) + cx) / zoom, gy = ((scroller.scrollTop || 0) + cy) / zoom;
  zoom = z; sizeGraph();
  scroller.scrollLeft = gx * zoom - cx; scroller.scrollTop = gy * zoom - cy;
}
function fit(){
  if (!svg) return;
  const w = scroller.clientWidth || P.width, h = scroller.clientHeight || P.height;
  zoomTo(Math.min(w / P.width, h / P.height, 1));
  scroller.scrollLeft = 0; scroller.scrollTop = 0;
}
function centre(key){  // scroll the box of key (a layer, or "g:" + a block) to the middle
  const b = P && P.boxes.get(key);
  if (!b) return;
  scroller.scrollLeft = (b[0] + L.nodeW / 2) * zoom - (scroller.clientWidth || 0) / 2;
  scroller.scrollTop = (b[1] + L.nodeH / 2) * zoom - (scroller.clientHeight || 0) / 2;
}
// open every block that holds a layer, so that its own box shows
function reveal(name){
  const u = L.units.find(u => u[0] === name);
  if (!u) return;
  let changed = false;
  for (const g of u[3]) if (collapsed.delete(g)) changed = true;
  if (changed) drawGraph();
}
const press = (el, f) => {
  el.addEventListener("click", f);
  el.addEventListener("keydown", ev => { if (ev.key === "Enter" || ev.key === " "){ if (ev.preventDefault) ev.preventDefault(); f(ev); } });
};
for (const [name, el] of headEl) press(el, () => { collapsed.add(name); drawGraph(); const p = proxyEl.get(name); if (p && p.focus) p.focus(); });
for (const [name, el] of proxyEl) press(el, () => { collapsed.delete(name); drawGraph(); });
const button = (id, f) => { const b = document.getElementById(id); if (b) b.addEventListener("click", f); };
button("expand-all", () => { collapsed.clear(); drawGraph(); });
button("collapse-all", () => {
  for (const [name, b] of L.blocks) if (!b.outer.length) collapsed.add(name); drawGraph(); });
button("zoom-in", () => zoomTo(zoom * 1.25));
button("zoom-out", () => zoomTo(zoom / 1.25));
button("zoom-1", () => zoomTo(1));
button("fit", fit);
if (svg){
  scroller.addEventListener("wheel", ev => {
    if (!ev.ctrlKey && !ev.metaKey) return;  // a plain wheel scrolls (pans); with Ctrl it zooms
    ev.preventDefault();
    const r = scroller.getBoundingClientRect();
    zoomTo(zoom * Math.exp(-ev.deltaY / 300), ev.clientX - r.left, ev.clientY - r.top);
  }, {passive: false});
  scroller.addEventListener("keydown", ev => {
    if (ev.target !== scroller) return;
    if (ev.key === "+" || ev.key === "=") zoomTo(zoom * 1.25);
    else if (ev.key === "-" || ev.key === "_") zoomTo(zoom / 1.25);
    else if (ev.key === "0") fit();
    else if (ev.key === "1") zoomTo(1);
  });
  // re-flow the columns when the window's width changes
  let lastWidth = wrapWidth() + "x" + wrapHeight();
  if (window.addEventListener) window.addEventListener("resize", () => {
    if (wrapWidth() + "x" + wrapHeight() !== lastWidth){ lastWidth = wrapWidth() + "x" + wrapHeight(); drawGraph(); }
  });
  let drag = null;
  scroller.addEventListener("mousedown", ev => {
    if (ev.button !== 0 || ev.target.closest("g.node") || ev.target.closest("g.proxy") || ev.target.closest("text.hd")) return;
    drag = [ev.clientX, ev.clientY, scroller.scrollLeft, scroller.scrollTop];
    scroller.classList.add("drag"); ev.preventDefault();
  });
  if (window.addEventListener){
    window.addEventListener("mousemove", ev => {
      if (!drag) return;
      scroller.scrollLeft = drag[2] - (ev.clientX - drag[0]); scroller.scrollTop = drag[3] - (ev.clientY - drag[1]);
    });
    window.addEventListener("mouseup", () => { drag = null; scroller.classList.remove("drag"); });
  }
}

// -- find a layer: by name (exact, then a part of it) or by type or shorthand
const search = document.getElementById("search"), searchMsg = document.getElementById("search-msg");
const names = L.units.slice(1).map(u => u[0]);
if (search){
  const list = document.getElementById("names");
  for (const n of names){ const o = document.createElement("option"); o.value = n; list.appendChild(o); }
  const find = () => {
    const q = search.value.trim().toLowerCase();
    if (!q) return;
    const hits = names.filter(n => n.toLowerCase() === q);
    if (!hits.length) for (const n of names) if (n.toLowerCase().includes(q)) hits.push(n);
    // the dotted parts in order, some left out: "layer3.bottleneck4.conv2" finds
    // layer3.bottleneck4.residual1.conv2 (a structure's inner level need not be typed)
    if (!hits.length && q.includes(".")){
      const want = q.split(".");
      for (const n of names){
        const parts = n.toLowerCase().split(".");
        let i = 0;
        for (const p of parts) if (i < want.length && p === want[i]) i++;
        if (i === want.length && parts[parts.length - 1] === want[want.length - 1]) hits.push(n);
      }
    }
    if (!hits.length) for (const n of names){ const d = D.details[n]; if (d.report.type.toLowerCase() === q || d.short.toLowerCase().startsWith(q)) hits.push(n); }
    if (!hits.length){ searchMsg.textContent = "no layer matches “" + search.value + "”"; return; }
    // Enter again on the same query: the next match
    const k = search.dataset.q === q ? (+search.dataset.k + 1) % hits.length : 0;
    search.dataset.q = q; search.dataset.k = k;
    searchMsg.textContent = hits.length > 1 ? `${k + 1} of ${hits.length} matches (Enter: next)` : "1 match";
    pick(hits[k]); centre(hits[k]);
  };
  search.addEventListener("keydown", ev => { if (ev.key === "Enter") find(); });
  search.addEventListener("change", find);
}

// -- the overview: every block, indented by depth; choosing one shows it (its enclosing
// blocks opened) at the top of the view
const goto = document.getElementById("goto");
if (goto){
  for (const [name, b] of L.blocks){
    const o = document.createElement("option"); o.value = name;
    o.textContent = "\u00a0\u00a0".repeat(b.outer.length) + name.split(".").pop() + " (" + b.members.length + ")";
    goto.appendChild(o);
  }
  goto.addEventListener("change", () => {
    const name = goto.value;
    if (!name) return;
    const b = new Map(L.blocks).get(name);
    let changed = false;
    for (const p of b.outer) if (collapsed.delete(p)) changed = true;
    if (changed) drawGraph();
    const c = P.clusters.get(name);
    if (c){
      scroller.scrollLeft = Math.max(0, c[0] * zoom - 10); scroller.scrollTop = Math.max(0, c[1] * zoom - 10);
    } else centre("g:" + name);
    const el = c ? headEl.get(name) : proxyEl.get(name);
    if (el && el.focus) el.focus({preventScroll: true});
  });
}

// -- the details of one layer: its shorthand, window, weights, every figure of its row of
// the JSON report, its explain steps
const details = document.getElementById("details"), explain = document.getElementById("explain");
function h(tag, text, parent, cls){
  const e = document.createElement(tag); if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls; if (parent) parent.appendChild(e); return e;
}
const fmt = v => v === null ? "–" : typeof v === "number" ? v.toLocaleString("en-US") : Array.isArray(v) ? v.map(fmt).join(" x ") : String(v);
function showDetails(name){
  const d = D.details[name];
  details.textContent = ""; explain.textContent = "";
  h("h2", name, details).id = "details-name";
  if (!d){ h("p", "the network's input, " + D.shapes[name].join("x"), details); return; }
  const r = d.report;
  h("p", d.short, details, "short");
  const tb = h("table", undefined, details, "kv"), row = (k, v, key) => {
    const tr = tb.insertRow(), a = tr.insertCell(), b = tr.insertCell(); a.textContent = k; b.textContent = v;
    if (key) b.dataset.key = key;
  };
  row("type", r.type, "type");
  row("inputs", r.inputs.join(", ") + "  (" + r.inputs.map(i => D.shapes[i].join("x")).join(", ") + ")", "inputs");
  const axn = d.windows.length === 1 ? ["L"] : d.windows.length === 2 ? ["H", "W"] : ["D", "H", "W"];
  if (d.windows.length){
    const per = (f) => { const v = d.windows.map(f); return v.every(x => x === v[0]) ? String(v[0]) : v.join(" x "); };
    row("kernel", per(w => w.kernel), "kernel");
    row("stride", per(w => w.stride), "stride");
    row("padding", per(w => w.padding[0] === w.padding[1] ? w.padding[0] : w.padding.join("/")) +
      (d.windows[0].padding_mode ? " (" + d.windows[0].padding_mode + ")" : ""), "padding");
    row("dilation", per(w => w.dilation), "dilation");
    if (d.windows.some(w => w.ceil_mode)) row("ceil mode", "yes");
    if (d.windows[0].transposed) row("transposed", "yes, output padding " + per(w => w.output_padding));
    row("window per axis", d.windows.map((w, k) => `${axn[k]}: ${w.size} → ${w.out}`).join(", "));
  }
  for (const [k, v] of Object.entries(d.weights)) row("tensor " + k, v.join("x"));
  for (const [k, v] of Object.entries(d.buffers)) row("buffer " + k, v.join("x"));
  const fields = ["receptive_field", "local_receptive_field", "effective_receptive_field"];
  for (const [k, v] of Object.entries(r)){
    if (k === "name" || k === "type" || k === "inputs" || fields.includes(k)) continue;
    if (k === "global_context") row("global context", v.length ? v.join(", ") : "none", k);
    else row(k.replace(/_/g, " "), fmt(v), k);
  }
  const f = r.receptive_field, lf = r.local_receptive_field;
  if (f) for (const [k, v] of Object.entries(f)) row("RF " + k.replace(/_/g, " "), fmt(v), "rf_" + k);
  else row("RF", "global, or no spatial axes", "rf");
  // the local field (broadcast gates held constant) where global information enters the unit
  if (lf && r.global_context && r.global_context.length)
    for (const [k, v] of Object.entries(lf)) row("local RF " + k.replace(/_/g, " "), fmt(v), "local_rf_" + k);
  explain.textContent = "";
  if (d.steps.length){
    h("h2", "How the figures are computed (explain)", explain);
    const ol = h("ol", undefined, explain, "steps");
    for (const [field, formula, sub, result, note] of d.steps){
      const li = h("li", undefined, ol);
      h("span", field.replace(/_/g, " ") + ": ", li, "fld");
      h("code", formula, li);
      if (sub) { h("br", undefined, li); h("code", "= " + sub + " = " + result, li); }
      else h("code", " = " + result, li);
      if (note) h("div", note, li, "note");
    }
  }
}

// -- the table: numeric and text sorting, a filter
const table = document.getElementById("layers");
table.querySelectorAll("th").forEach(th => press(th, () => {
  const col = +th.dataset.col, numeric = th.dataset.kind === "n";
  const asc = !th.classList.contains("asc");
  table.querySelectorAll("th").forEach(h => { h.classList.remove("asc", "desc"); h.setAttribute("aria-sort", "none"); });
  th.classList.add(asc ? "asc" : "desc"); th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  const body = table.tBodies[0], rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.v, z = b.cells[col].dataset.v;
    const c = numeric ? (+x) - (+z) : x.localeCompare(z);
    return (asc ? c : -c) || (+a.cells[0].dataset.v) - (+b.cells[0].dataset.v);
  });
  for (const r of rows) body.appendChild(r);
}));
const filter = document.getElementById("filter");
function filterRows(){
  const q = filter.value.trim().toLowerCase();
  let n = 0;
  for (const r of table.tBodies[0].rows){
    const d = D.details[r.dataset.name];
    const hit = !q || r.dataset.name.toLowerCase().includes(q) || d.report.type.toLowerCase().includes(q) || d.short.toLowerCase().includes(q);
    r.style.display = hit ? "" : "none"; if (hit) n++;
  }
  document.getElementById("filter-msg").textContent = q ? `${n} of ${names.length} layers` : "";
}
if (filter) for (const type of ["input", "change", "search"]) filter.addEventListener(type, filterRows);

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
const fitBox = document.getElementById("rf-fit");
function selectLayer(name, unit){
  if (!(name in D.fields)){
    // no per-unit field: a global one (every input position reaches each unit), drawn as
    // the whole input shaded, or no spatial axes at all (nothing to draw on the grid)
    sel.value = ""; unitsBox.textContent = ""; inputs.length = 0;
    grid.textContent = ""; text.textContent = "";
    const spatial = D.shapes[name].length > 1;
    if (spatial) drawField(name, D.input.map(() => null), [], D.input.map(() => 1), D.input.map(() => 1));
    h("p", spatial ? `${name}: every input position reaches each of its units (a global field: ` +
      "after global pooling, a squeeze-and-excitation gate, or a layer that mixes the whole input); the whole input is shaded."
      : `${name}: its output (${D.shapes[name].join("x")}) has no spatial axes, so its units are not positions on the ` +
        "input grid and no field is drawn (the table gives \"global\").", text, "nofield");
    return;
  }
  sel.value = name;
  const shape = D.shapes[name].slice(1);
  unitsBox.textContent = "unit ";
  inputs.length = 0;
  shape.forEach((n, k) => {
    const inp = document.createElement("input");
    inp.type = "number"; inp.min = 0; inp.max = n - 1;
    inp.value = unit ? unit[k] : Math.floor(n / 2);
    inp.setAttribute("aria-label", `unit index along axis ${k} (0 to ${n - 1})`);
    inp.addEventListener("change", draw);
    unitsBox.appendChild(inp); inputs.push(inp);
    const s = document.createElement("span"); s.textContent = " of " + n + (k < shape.length - 1 ? " × " : "");
    unitsBox.appendChild(s);
  });
  draw();
}
// the picture: the input (white), its padding hatched, the unit's field shaded blue with
// its centre in red, the other units' fields outlined. ext: per axis null (every position),
// "none" or [first, last]
// the heat map of an effective receptive field: per shown axis [start, levels] (the centre
// unit's marginals, levels 0..1000 of the axis' peak), drawn as their outer product on
// the input pixels (a canvas inside the SVG: no URL, nothing fetched); opacity grows as
// the square root of the product, so that the tails stay visible
function drawHeat(s, heat, X, Y, px, two, strip){
  const [my, mx] = two ? heat : [[0, [1000]], heat[0]];
  const w = mx[1].length, hgt = my[1].length;
  const fo = el("foreignObject", {x: X(mx[0]), y: two ? Y(my[0]) : Y(0), width: w * px, height: two ? hgt * px : strip, class: "erf"}, s);
  const c = document.createElement("canvas");
  c.width = w; c.height = hgt;
  c.style.cssText = `display:block;width:${w * px}px;height:${two ? hgt * px : strip}px;image-rendering:pixelated`;
  fo.appendChild(c);
  const ctx = c.getContext("2d"), img = ctx.createImageData(w, hgt);
  const peakX = Math.max(...mx[1]), peakY = Math.max(...my[1]);
  for (let i = 0; i < hgt; i++) for (let j = 0; j < w; j++){
    const v = (my[1][i] / peakY) * (mx[1][j] / peakX), o = 4 * (i * w + j);
    img.data[o] = 235; img.data[o + 1] = Math.round(200 * (1 - v)); img.data[o + 2] = 0;
    img.data[o + 3] = Math.round(235 * Math.sqrt(v));
  }
  ctx.putImageData(img, 0, 0);
}
// a dilated layer's kernel taps (its window's positions on its input, dilation apart),
// each where that input unit reads the network's input: a pixel when the input is the
// network's, else that unit's field (from the page's tables). null where there is nothing
// to draw: no dilation, a transposed window, several inputs, or an input without a finite
// field on every axis
function tapsOf(name, unit){
  const d = D.details[name], f = D.fields[name];
  if (!d || !d.windows.length || d.windows.length !== f.length || d.windows[0].transposed) return null;
  if (!d.windows.some(w => w.dilation > 1) || d.report.inputs.length !== 1) return null;
  const src = d.report.inputs[0], sf = src === "input" ? null : D.fields[src];
  if (src !== "input" && (!sf || sf.some(t => t === null || t === "long"))) return null;
  const per = d.windows.map((w, k) => {
    const out = [];
    for (let j = 0; j < w.kernel; j++){
      const t = unit[k] * w.stride - w.padding[0] + j * w.dilation;
      if (src === "input") out.push([t, t]);
      else { const e = at(sf[k], t); out.push(e[0] === null ? "none" : e); }
    }
    return out;
  });
  let taps = [[]];
  for (const axis of per) taps = taps.flatMap(t => axis.map(e => [...t, e]));
  return {src, per, taps, windows: d.windows};
}
function drawField(name, ext, others, shapeOut, unit, heat, taps){
  const nd = D.input.length, show = nd >= 2 ? [nd - 2, nd - 1] : [0];
  const two = show.length === 2, fitField = fitBox && fitBox.checked;
  const lim = show.map(k => {
    let lo = 0, hi = D.input[k] - 1;
    const drawn = [ext, ...others.map(o => o.ext)].filter(e => Array.isArray(e[k]));
    if (fitField && drawn.length){ lo = Infinity; hi = -Infinity; }
    for (const e of drawn){ lo = Math.min(lo, e[k][0]); hi = Math.max(hi, e[k][1]); }
    const m = fitField ? Math.max(2, Math.ceil((hi - lo + 1) / 8)) : 1;
    return [lo - m, hi + m];
  });
  const W = 360, STRIP = 36;  // a 1-D input is a strip of fixed height
  const spanX = lim[lim.length - 1][1] - lim[lim.length - 1][0] + 1;
  const spanY = two ? lim[0][1] - lim[0][0] + 1 : 1;
  const px = Math.min(W / spanX, two ? W / spanY : Infinity);
  const height = two ? spanY * px : STRIP;
  const s = el("svg", {width: spanX * px + 40, height: height + 20, role: "img", class: "field"}, grid);
  const X = v => 30 + (v - lim[lim.length - 1][0]) * px;
  const Y = v => two ? 10 + (v - lim[0][0]) * px : 10;
  const hOf = (a, b) => two ? (b - a + 1) * px : STRIP;
  const clipX = v => Math.max(30, Math.min(30 + spanX * px, v));
  const clipY = v => Math.max(10, Math.min(10 + height, v));
  const rectOf = e => {
    if (show.some(k => e[k] === "none")) return null;
    const full = show.map(k => D.input[k]);
    const ex = e[show[show.length - 1]] || [0, full[full.length - 1] - 1];
    const ey = two ? (e[show[0]] || [0, full[0] - 1]) : [0, 0];
    // clipped to the viewport (a field larger than the fitted view)
    const x0 = clipX(X(ex[0])), x1 = clipX(X(ex[1] + 1)), y0 = clipY(Y(ey[0])), y1 = clipY(Y(ey[0]) + hOf(ey[0], ey[1]));
    return [x0, y0, x1 - x0, y1 - y0];
  };
  const defs = el("defs", {}, s);
  const pat = el("pattern", {id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"}, defs);
  el("rect", {width: 6, height: 6, fill: "#f6f6f6"}, pat);
  el("line", {x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#ddd", "stroke-width": 2}, pat);
  el("rect", {x: 30, y: 10, width: spanX * px, height: height, fill: "url(#hatch)", stroke: "none"}, s);
  const nIn = show.map(k => D.input[k]);
  const frame = rectOf(D.input.map(() => null));
  el("rect", {x: frame[0], y: frame[1], width: frame[2], height: frame[3], fill: "#fff", stroke: "#333", class: "input"}, s);
  if (px >= 5){  // the pixel grid, as the lectures draw it
    for (let v = lim[lim.length - 1][0]; v <= lim[lim.length - 1][1] + 1; v++)
      el("line", {x1: X(v), x2: X(v), y1: 10, y2: 10 + height, stroke: "#ccc", "stroke-width": .6}, s);
    if (two) for (let v = lim[0][0]; v <= lim[0][1] + 1; v++)
      el("line", {x1: 30, x2: 30 + spanX * px, y1: Y(v), y2: Y(v), stroke: "#ccc", "stroke-width": .6}, s);
  }
  const r = rectOf(ext);
  if (r){
    el("rect", {x: r[0], y: r[1], width: Math.max(r[2], 1), height: Math.max(r[3], 1), fill: "rgba(31,95,168,.35)", stroke: "#1f5fa8", "stroke-width": 2, class: "field-rect"}, s);
    // a field smaller than 6 screen pixels gets a ring, so that it is seen at any scale
    if (r[2] < 6 || r[3] < 6) el("circle", {cx: r[0] + r[2] / 2, cy: r[1] + r[3] / 2, r: 9, fill: "none", stroke: "#1f5fa8", "stroke-width": 1.5}, s);
  }
  if (r && heat) drawHeat(s, show.map(k => heat[k]), X, Y, px, two, STRIP);
  if (taps) for (const t of taps.taps){  // the dilated kernel's taps, outlined in black
    const q = rectOf(t);
    if (q) el("rect", {x: q[0] + .75, y: q[1] + .75, width: Math.max(q[2] - 1.5, 1), height: Math.max(q[3] - 1.5, 1), fill: "none",
                       stroke: "#111", "stroke-width": 1.5, class: "tap"}, s);
  }
  others.forEach((o, i) => {
    const q = rectOf(o.ext);
    if (q) el("rect", {x: q[0] + 1, y: q[1] + 1, width: Math.max(q[2] - 2, 1), height: Math.max(q[3] - 2, 1), fill: "none",
                stroke: o.colour, "stroke-width": 1.5, "stroke-dasharray": "5,3", class: "other"}, s);
  });
  if (r) el("circle", {cx: r[0] + r[2] / 2, cy: r[1] + r[3] / 2, r: 3.5, fill: "#d00"}, s);
  // the input's frame again, on top: visible even inside a field larger than the input
  el("rect", {x: frame[0], y: frame[1], width: frame[2], height: frame[3], fill: "none", stroke: "#333", "stroke-width": 1.2}, s);
  const t = h("p", undefined, grid, "caption");
  t.textContent = (fitField ? `input ${lim.map(l => `${l[0]}..${l[1]}`).join(" × ")} of ` : "input ") + nIn.join("×") +
    " (white), padding hatched; " + (px < 1 ? px.toFixed(2) : px < 10 ? px.toFixed(1) : Math.round(px)) + " px per input pixel";
  s.setAttribute("aria-label", `receptive field of ${name}, unit (${unit.join(", ")}), on the input ${nIn.join("×")}`);
  return r ? r[2] * r[3] : 0;
}
function draw(){
  const name = sel.value, f = D.fields[name], shape = D.shapes[name].slice(1);
  const unit = inputs.map((inp, k) => Math.max(0, Math.min(shape[k] - 1, Math.floor(+inp.value || 0))));
  inputs.forEach((inp, k) => { inp.value = unit[k]; });  // the boxes show the unit drawn
  grid.textContent = ""; text.textContent = "";
  const nd = D.input.length, show = nd >= 2 ? [nd - 2, nd - 1] : [0];
  // per axis: null (every position reaches it), "none" (it sees no input: the zeros a
  // transposed convolution inserts), or [first, last] input position
  const ev = (t, o) => { if (t === null || t === "long") return null; const e = at(t, o); return e[0] === null ? "none" : e; };
  const ext = f.map((t, k) => ev(t, unit[k]));
  const per = f.map(t => (t === null || t === "long") ? 1 : periodOf(t));
  // the units drawn: the chosen one; along each axis whose fields repeat with a period
  // (upsampling, transposed convolution), the other runs of units of its period that
  // see a different field; without those, the next unit (one effective stride on)
  const others = [];
  const axn = nd === 1 ? ["L"] : nd === 2 ? ["H", "W"] : ["D", "H", "W"];
  for (const k of show){
    if (per[k] <= 1 || ext[k] === null) continue;
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
      others.push({unit: u, ext: e, phase: true, colour: PHASE[others.length % PHASE.length],
        label: `${axn[k]} units ${r.first}` + (r.last > r.first ? `–${r.last}` : "") + ` (phase ${r.first - base}` +
        (r.last > r.first ? `–${r.last - base}` : "") + ` of ${per[k]})`});
    }
  }
  // without those: the next unit along the last axis whose field differs from the chosen
  // one's (after a transposed convolution a run of units can share one field)
  let next = null, same = 0;
  const sameExt = (a, b) => a.every((e, j) => e === b[j] || (Array.isArray(e) && Array.isArray(b[j]) && e[0] === b[j][0] && e[1] === b[j][1]));
  if (!others.length){
    const k = show[show.length - 1];
    for (let o = unit[k] + 1; o < shape[k]; o++){
      const u = unit.slice(); u[k] = o;
      const e = f.map((t, j) => ev(t, u[j]));
      if (sameExt(e, ext)){ same++; continue; }
      next = axn[k];
      others.push({unit: u, ext: e, phase: false, colour: "#777", label: (same ? "next different unit (" : "next unit (") + u.join(", ") + ")"});
      break;
    }
  }
  // the effective receptive field: carried for the centre unit only (floor((n - 1) / 2))
  const E = D.erf && D.erf[name];
  const centred = !!(E && E.unit && E.unit.every((c, k) => c === unit[k]));
  const taps = tapsOf(name, unit);
  drawField(name, ext, others, shape, unit, centred ? E.marginals : null, taps);
  // the figures
  const p = document.createElement("p");
  p.textContent = `${name}, unit (${unit.join(", ")}): ` + ext.map((e, k) => e === null ? `${axn[k]}: every position` : e === "none" ? `${axn[k]}: no input position (it reads only inserted zeros)` :
    `${axn[k]} ${e[0]}..${e[1]} (${e[1] - e[0] + 1} px)`).join(", ");
  text.appendChild(p);
  const tb = document.createElement("table");
  const addRow = (sw, label, e, own) => {
    const tr = tb.insertRow(), c0 = tr.insertCell(), c1 = tr.insertCell(), c2 = tr.insertCell();
    const sp = document.createElement("span"); sp.className = "sw"; sp.style.borderColor = sw; sp.style.background = own ? "rgba(31,95,168,.35)" : "none";
    sp.style.borderStyle = own ? "solid" : "dashed"; c0.appendChild(sp);
    c1.textContent = label; c2.textContent = e.map(x => x === null ? "all" : x === "none" ? "none" : `${x[0]}..${x[1]}`).join(" × ");
  };
  addRow("#1f5fa8", "unit (" + unit.join(", ") + ")", ext, true);
  others.forEach(o => addRow(o.colour, o.label, o.ext, false));
  text.appendChild(tb);
  const note = document.createElement("p");
  const ph = per.map((v, k) => v > 1 ? `${axn[k]}: period ${v}` : null).filter(x => x);
  const what = others.length && others[0].phase
    ? "The outlined fields (dashed, in colour) are the other runs of units in the chosen unit's period that see a different field; the reported size is the largest over them."
    : next && !same ? `The outlined field (grey, dashed) is the next unit along ${next}, one effective stride further.`
    : next ? `The next ${same} unit(s) along ${next} see the same field as the chosen one; the outlined field (grey, dashed) is the first that differs.`
    : same ? `Nothing else is outlined: the ${same} later unit(s) along ${axn[show[show.length - 1]]} see the same field.`
    : `Nothing else is outlined: this is the last unit along ${axn[show[show.length - 1]]}.`;
  note.textContent = (ph.length ? "Units repeat their pattern of fields every " + ph.join(", ") + " units (upsampling or a transposed convolution upstream). " : "") +
    what + (f.some(t => t === "long") ? " (Some axis has too long a period to draw.)" : "");
  text.appendChild(note);
  if (taps){
    // what the orange cells are, and whether their union leaves holes on an axis
    const tn = document.createElement("p");
    tn.className = "tap-note";
    const holes = taps.per.map((axis, k) => {
      const iv = axis.filter(e => Array.isArray(e)).slice().sort((a, b) => a[0] - b[0]);
      return iv.some((e, j) => j > 0 && e[0] > iv[j - 1][1] + 1) ? axn[k] : null;
    }).filter(x => x);
    const w = taps.windows;
    tn.textContent = `Outlined in black: the ${w.map(x => x.kernel).join(" × ")} taps of ${name}'s kernel (dilation ${w.map(x => x.dilation).join(" × ")}: ` +
      `taps ${w.map(x => x.dilation).join(" × ")} units of ${taps.src} apart) ` +
      (taps.src === "input" ? "on the input, one pixel each" : `on ${taps.src}, each drawn where that unit of ${taps.src} reads the input (its field)`) + ". " +
      (holes.length ? `Along ${holes.join(", ")} the unit reads no input between them (dilation's holes); the field, their hull, counts the holes.`
        : "Their union is the field: no holes.");
    text.appendChild(tn);
  }
  const en = document.createElement("p");
  en.className = "erf-note";
  const fig = (v, d) => v.map(x => +x.toFixed(d)).join(" × ");
  if (D.erf === null) en.textContent = "The effective receptive field was left out of this page (cnncalc view --no-erf).";
  else if (!E) en.textContent = `No effective receptive field for ${name}: its field is not finite on every axis (global, or no spatial axes).`;
  else if (E.refused) en.textContent = `No effective receptive field for ${name} under protocol uniform: ${E.refused}.`;
  else {
    en.textContent = (centred ? "Heat map (pale to red: more of the gradient lands there): the centre unit's effective receptive field, marginals multiplied"
      : `The effective receptive field is carried for the centre unit (${E.unit.join(", ")}) only, so none is drawn for this unit; the figures are the centre unit's`) +
      ` (protocol uniform: equal weights, activations the identity; the outer product of its per-axis marginals, not the map itself). ` +
      `Mean ${fig(E.mean, 2)}, std ${fig(E.std, 2)} px, 95 % of the mass in ${E.width95.join(" × ")} px, ` +
      `ratio to the theoretical size ${fig(E.ratio, 3)}.`;
    if (!centred){
      const b = document.createElement("button"); b.textContent = "show the centre unit"; b.className = "erf-centre";
      b.addEventListener("click", () => { E.unit.forEach((c, k) => { inputs[k].value = c; }); draw(); });
      en.textContent += " "; en.appendChild(b);
    }
  }
  text.appendChild(en);
}
sel.addEventListener("change", () => pick(sel.value));
if (fitBox) fitBox.addEventListener("change", () => { if (sel.value) draw(); });
let chosen = null;
function pick(name, stay){  // stay: leave the blocks as they are (the page's first state)
  if (!(name in D.shapes)) return;
  chosen = name;
  if (!stay) reveal(name);
  document.querySelectorAll(".sel").forEach(e => e.classList.remove("sel"));
  const g = nodeEl.get(name); if (g) g.classList.add("sel");
  for (const tr of table.tBodies[0].rows) if (tr.dataset.name === name) tr.classList.add("sel");
  document.querySelectorAll("svg.chart .hit").forEach(e => { if (e.dataset.name === name) e.classList.add("sel"); });
  showDetails(name);
  if (name !== "input") selectLayer(name);
}
for (const [name, el] of nodeEl) press(el, () => pick(name));
// chosen in the chart or the table: also shown in the graph (its blocks opened, centred)
const show = name => { pick(name); centre(name); };
document.querySelectorAll("svg.chart .hit").forEach(e => e.addEventListener("click", () => show(e.dataset.name)));
table.tBodies[0].addEventListener("click", ev => { const tr = ev.target.closest("tr"); if (tr) show(tr.dataset.name); });
table.tBodies[0].addEventListener("keydown", ev => { const tr = ev.target.closest("tr"); if (tr && ev.key === "Enter") show(tr.dataset.name); });
drawGraph();
if (D.default){
  pick(D.default.layer, true);
  selectLayer(D.default.layer, D.default.unit);
}
window.cnncalcFieldAt = at;  // for benchmarks/view_screenshots.py
window.cnncalcView = {pick, zoomTo, fit, centre, zoom: () => zoom, details: showDetails, data: D};  // for the browser tests
document.body.dataset.ready = "1";
})();
