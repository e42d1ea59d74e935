// embviz explorer: points drawn with WebGL (points.js), trails and text on a 2-D canvas above them.
// Tokens reach the DOM only as textContent. Snapshots live in growable arrays: append() adds more.
const D = JSON.parse(document.getElementById("embviz-data").textContent);
const n = D.n, K = D.k;

function decode(data, Type) {
  if (typeof data !== "string") return new Type(data);
  if (Uint8Array.fromBase64) return new Type(Uint8Array.fromBase64(data).buffer);
  const bin = atob(data), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Type(bytes.buffer);
}
const IndexType = (kind) => (kind === "u4" ? Uint32Array : Uint16Array);
const W = D.word2vec ? {
  P: decode(D.word2vec.positions, Float32Array),  // [n, 2], nan = no vector
  NI: decode(D.word2vec.nbrIndex, IndexType(D.word2vec.nbrType)),  // [n, K], the type's largest value = none
  NC: decode(D.word2vec.nbrCos, Int16Array),
} : null;
const NONE = W ? (W.NI instanceof Uint32Array ? 4294967295 : 65535) : -1;

const $ = (id) => document.getElementById(id);
const canvas = $("map"), ctx = canvas.getContext("2d"), glCanvas = $("points");
const slider = $("slider"), playBtn = $("play"), speedSel = $("speed"), levelSel = $("level");
const search = $("search"), tooltip = $("tooltip");
const GREY = "#c7c7c7";
const LEVELS = D.levels.length ? D.levels : [{ name: "none", categories: [], colours: [], codes: new Array(n).fill(-1) }];
const points = makePoints(glCanvas, n);
$("nogl").hidden = points !== null;

// -- the run, snapshot by snapshot (growable) ---------------------------------------------------
// frames[t] = { q: Uint16Array [n*2] (0..65535 within b), b: [min x, max x, min y, max y] };
// nbrs[t] = { idx: [n*K], cos: Int16Array [n*K] } when the page holds its neighbours.
const frames = [], nbrs = [];
const run = { steps: [], epochs: [], trainLoss: [], valLoss: [], loss: [], curves: {} };
for (const name of Object.keys(D.curves)) run.curves[name] = [];
let T = 0, minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
function append(chunk) {
  const q = decode(chunk.positions, Uint16Array), count = chunk.bounds.length;
  if (q.length !== count * n * 2) throw new Error(`positions hold ${q.length / (2 * n)} snapshots, bounds ${count}`);
  for (let t = 0; t < count; t++) {
    const b = chunk.bounds[t];
    frames.push({ q: q.subarray(t * n * 2, (t + 1) * n * 2), b });
    minX = Math.min(minX, b[0]); maxX = Math.max(maxX, b[1]); minY = Math.min(minY, b[2]); maxY = Math.max(maxY, b[3]);
  }
  if (chunk.nbrIndex) {
    const idx = decode(chunk.nbrIndex, IndexType(chunk.nbrType)), cos = decode(chunk.nbrCos, Int16Array);
    for (let t = 0; t < count; t++) nbrs.push({ idx: idx.subarray(t * n * K, (t + 1) * n * K), cos: cos.subarray(t * n * K, (t + 1) * n * K) });
  }
  for (const key of ["steps", "epochs", "trainLoss", "valLoss", "loss"]) run[key].push(...chunk[key]);
  for (const name of Object.keys(run.curves)) run.curves[name].push(...(chunk.curves[name] || new Array(count).fill(null)));
  if (points) points.append(q);
  T = frames.length; slider.max = T - 1;
}
// A live feed's final layout of snapshot t, which the page holds with a provisional one: a one-snapshot chunk.
function replace(t, chunk) {
  const q = decode(chunk.positions, Uint16Array);
  if (!(t >= 0 && t < T) || q.length !== n * 2) throw new Error(`no snapshot ${t} of ${T} to replace with ${q.length / (2 * n)} words`);
  frames[t] = { q, b: chunk.bounds[0] };
  if (chunk.nbrIndex) nbrs[t] = { idx: decode(chunk.nbrIndex, IndexType(chunk.nbrType)), cos: decode(chunk.nbrCos, Int16Array) };
  for (const name of Object.keys(run.curves)) run.curves[name][t] = (chunk.curves[name] || [null])[0];
  minX = Math.min(...frames.map((f) => f.b[0])); maxX = Math.max(...frames.map((f) => f.b[1]));
  minY = Math.min(...frames.map((f) => f.b[2])); maxY = Math.max(...frames.map((f) => f.b[3]));
  if (points) points.replace(t, q);
  placed = null;
}

const state = {
  t: 0, playing: false, level: D.level, selected: -1, hover: -1, found: -1, blend: 0, blendTo: 0, settle: false,
  hidden: LEVELS.map((l) => new Uint8Array(l.categories.length)),
  view: { scale: 1, ox: 0, oy: 0 }, drawn: 0, width: 0, height: 0, follow: D.view === "follow", labels: [],
};
append(D);
const timing = { firstPaint: null, lastDrawMs: 0 };

// -- geometry -------------------------------------------------------------------------------
const ease = (f) => f * f * (3 - 2 * f);
const X = new Float64Array(n), Y = new Float64Array(n);
const span = (t) => { const t0 = Math.max(0, Math.min(T - 1, Math.floor(t))); return [t0, Math.min(T - 1, t0 + 1), ease(t - t0)]; };
function at(t, j) {  // word j's place at snapshot t (an integer)
  const { q, b } = frames[t];
  return [b[0] + (b[1] - b[0]) * q[2 * j] / 65535, b[2] + (b[3] - b[2]) * q[2 * j + 1] / 65535];
}
let placed = null;
function positionsAt(t) {
  if (placed && placed.t === t && placed.blend === state.blend && placed.T === T) return;
  const [i0, i1, f] = span(t), A = frames[i0], B = frames[i1], w = state.blend;
  const ax = (A.b[1] - A.b[0]) / 65535, ay = (A.b[3] - A.b[2]) / 65535, bx = (B.b[1] - B.b[0]) / 65535, by = (B.b[3] - B.b[2]) / 65535;
  for (let j = 0; j < n; j++) {
    let x = (A.b[0] + A.q[2 * j] * ax) * (1 - f) + (B.b[0] + B.q[2 * j] * bx) * f;
    let y = (A.b[2] + A.q[2 * j + 1] * ay) * (1 - f) + (B.b[2] + B.q[2 * j + 1] * by) * f;
    if (W && w > 0) { x = x * (1 - w) + W.P[2 * j] * w; y = y * (1 - w) + W.P[2 * j + 1] * w; }
    X[j] = x; Y[j] = y;
  }
  placed = { t, blend: w, T };
}
const sx = (x) => state.view.ox + x * state.view.scale;
const sy = (y) => state.view.oy - y * state.view.scale;

const PAD = 30;
const fitScale = (spanX, spanY) => Math.min((state.width - 2 * PAD) / Math.max(spanX, 1e-9),
                                            (state.height - 2 * PAD) / Math.max(spanY, 1e-9));
function fit() {
  const s = fitScale(maxX - minX, maxY - minY);
  state.view = { scale: s, ox: state.width / 2 - s * (minX + maxX) / 2, oy: state.height / 2 + s * (minY + maxY) / 2 };
}
// The view that follows the points: each snapshot's bounds, eased between snapshots like the points; its scale
// against the fixed fit is the zoom the page states.
function followView(t) {
  const [i0, i1, f] = span(t);
  const b = frames[i0].b.map((v, c) => v * (1 - f) + frames[i1].b[c] * f);
  const s = fitScale(b[1] - b[0], b[3] - b[2]);
  return { scale: s, ox: state.width / 2 - s * (b[0] + b[1]) / 2, oy: state.height / 2 + s * (b[2] + b[3]) / 2 };
}
const zoom = () => state.view.scale / fitScale(maxX - minX, maxY - minY);
const caption = () => (state.follow ? `scale: follows the points (zoom ×${zoom().toFixed(1)})`
  : "scale: fixed for the whole run");

const curves = makeCurves($("curves"), run, $("curve-legend"));
function resize() {
  const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  const first = state.width === 0;
  state.width = r.width; state.height = r.height;
  for (const c of [canvas, glCanvas]) { c.width = Math.round(r.width * dpr); c.height = Math.round(r.height * dpr); }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const cr = $("curves").getBoundingClientRect();
  $("curves").width = Math.round(cr.width * dpr); $("curves").height = Math.round(cr.height * dpr);
  curves.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (first) fit();
  request();
}

// -- categories and colours -----------------------------------------------------------------
const groups = LEVELS.map((l) => {
  const members = l.categories.map(() => 0);
  l.codes.forEach((c) => { if (c >= 0) members[c]++; });
  return members;
});
const settled = D.settle ? D.settle.filter((v) => v !== null) : [];
const settleLo = Math.min(...settled), settleHi = Math.max(...settled);
const settleColour = (v) => (v === null ? GREY : viridis((v - settleLo) / Math.max(settleHi - settleLo, 1e-9)));
function colourOf(j) {
  if (state.settle) return settleColour(D.settle[j]);
  const l = LEVELS[state.level], c = l.codes[j];
  return c >= 0 ? l.colours[c] : GREY;
}
const shownCategory = (j) => { const c = LEVELS[state.level].codes[j]; return !(c >= 0 && state.hidden[state.level][c]); };
const visible = (j) => shownCategory(j) && !(state.blend > 0 && W && Number.isNaN(W.P[2 * j]));
let counted = null;
function countShown() {  // how many points are drawn, counted again when what is hidden changes
  const key = `${state.level}:${state.hidden[state.level].join("")}:${state.blend > 0}`;
  if (!counted || counted.key !== key) {
    let drawn = 0;
    for (let j = 0; j < n; j++) if (visible(j)) drawn++;
    counted = { key, drawn };
  }
  return counted.drawn;
}
function recolour() {  // the point layer's colours: rgba [n, 4], alpha 0 for a hidden category
  if (!points) return;
  const rgba = new Uint8Array(4 * n);
  for (let j = 0; j < n; j++) {
    const hex = colourOf(j);
    for (let k = 0; k < 3; k++) rgba[4 * j + k] = parseInt(hex.slice(1 + 2 * k, 3 + 2 * k), 16);
    rgba[4 * j + 3] = shownCategory(j) ? 255 : 0;
  }
  points.colours(rgba);
}
if (points && W) {
  const xyz = new Float32Array(3 * n);
  for (let j = 0; j < n; j++) {
    const ok = !Number.isNaN(W.P[2 * j]);
    xyz.set(ok ? [W.P[2 * j], W.P[2 * j + 1], 1] : [0, 0, 0], 3 * j);
  }
  points.word2vec(xyz);
}

// Each category's centre and how gathered it is at snapshot t: opacity 1 − (its RMS spread / all words'),
// 0 where it is as spread as the vocabulary. Computed once per level and snapshot.
const clusterCache = LEVELS.map(() => []);
function clusterAt(lv, t) {
  if (clusterCache[lv][t]) return clusterCache[lv][t];
  const codes = LEVELS[lv].codes, C = LEVELS[lv].categories.length, { q, b } = frames[t];
  const ax = (b[1] - b[0]) / 65535, ay = (b[3] - b[2]) / 65535;
  const s = new Float64Array(5 * (C + 1));  // per category, then all: count, Σx, Σy, Σx², Σy² (in steps)
  const add = (c, x, y) => { s[5 * c] += 1; s[5 * c + 1] += x; s[5 * c + 2] += y; s[5 * c + 3] += x * x; s[5 * c + 4] += y * y; };
  for (let j = 0; j < n; j++) {
    const x = q[2 * j], y = q[2 * j + 1];
    add(C, x, y);
    if (codes[j] >= 0) add(codes[j], x, y);
  }
  const spread = (c) => {
    const m = s[5 * c];
    return Math.sqrt(ax * ax * (s[5 * c + 3] / m - (s[5 * c + 1] / m) ** 2) + ay * ay * (s[5 * c + 4] / m - (s[5 * c + 2] / m) ** 2));
  };
  const all = spread(C);
  return (clusterCache[lv][t] = Array.from({ length: C }, (_, c) => ({
    x: b[0] + ax * s[5 * c + 1] / s[5 * c], y: b[2] + ay * s[5 * c + 2] / s[5 * c],
    opacity: s[5 * c] >= 2 && all > 0 ? Math.max(0, Math.min(1, 1 - spread(c) / all)) : 0,
  })));
}

// -- drawing --------------------------------------------------------------------------------
let pending = false;
function request() { if (!pending) { pending = true; requestAnimationFrame(frame); } }
let lastTime = null;
function frame(now) {
  pending = false;
  if (state.playing) {
    if (lastTime !== null) state.t = Math.min(T - 1, state.t + (now - lastTime) / 1000 * Number(speedSel.value));
    lastTime = now;
    if (state.t >= T - 1) setPlaying(false);
    slider.value = state.t;
  } else lastTime = null;
  if (state.blend !== state.blendTo) {
    state.blend = state.blendTo > state.blend ? Math.min(1, state.blend + 0.06) : Math.max(0, state.blend - 0.06);
  }
  draw();
  if (state.playing || state.blend !== state.blendTo) request();
}

const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => D.counts[b] - D.counts[a] || a - b);
const placeWords = makeLabeller(ctx, D.words, order);
const CLUSTER_FONT = "bold 13px system-ui, sans-serif";

function draw() {
  const start = performance.now();
  if (T === 0) {  // a live page before the run's first snapshot
    ctx.clearRect(0, 0, state.width, state.height); state.drawn = 0;
    $("info").textContent = "waiting for the first snapshot…";
    return;
  }
  positionsAt(state.t);
  if (state.follow) state.view = followView(state.t);
  ctx.clearRect(0, 0, state.width, state.height);
  const [i0, i1, f] = span(state.t);
  if (points) {
    points.draw(i0, i1, frames[i0].b, frames[i1].b, f, W ? state.blend : 0, state.view, state.width, state.height,
                window.devicePixelRatio || 1, state.selected >= 0 ? 0.45 : 0.85);
  }
  state.drawn = points ? countShown() : 0;
  const boxes = makeBoxes(), special = new Set();
  if (state.selected >= 0) drawSelection(boxes, special);
  for (const j of [state.found, state.hover]) if (j >= 0 && j !== state.selected) { label(j, "#000", 2, boxes); special.add(j); }
  drawClusters(boxes, i0, i1, f);
  placeWords(boxes, (j) => visible(j) && !special.has(j), X, Y, state.view, state.width, state.height);
  state.labels = boxes.placed.filter((b) => b.kind !== "special");
  const text = caption();
  ctx.font = "12px system-ui, sans-serif"; ctx.fillStyle = "#666"; ctx.fillText(text, 8, state.height - 8);
  if ($("scale").textContent !== text) $("scale").textContent = text;
  curves.draw(state.t, T);
  updateInfo();
  timing.lastDrawMs = performance.now() - start;
  if (timing.firstPaint === null) requestAnimationFrame(() => { timing.firstPaint = performance.now(); });
}

function drawClusters(boxes, i0, i1, f) {
  if (state.settle) return;
  const lv = state.level, l = LEVELS[lv], a = clusterAt(lv, i0), b = clusterAt(lv, i1);
  const list = l.categories.map((name, c) => ({
    c, name, x: sx(a[c].x * (1 - f) + b[c].x * f), y: sy(a[c].y * (1 - f) + b[c].y * f),
    opacity: (a[c].opacity * (1 - f) + b[c].opacity * f) * (1 - state.blend),
  })).filter((e) => e.opacity > 0.05 && !state.hidden[lv][e.c]).sort((p, q) => q.opacity - p.opacity);
  ctx.font = CLUSTER_FONT; ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.lineWidth = 4;
  for (const e of list) {
    const w = ctx.measureText(e.name).width, box = { kind: "cluster", text: e.name, category: e.c, opacity: e.opacity,
                                                     x: e.x - w / 2, y: e.y - 8, w, h: 16 };
    if (!boxes.free(box)) continue;
    boxes.add(box);
    ctx.globalAlpha = e.opacity; ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.fillStyle = l.colours[e.c];
    ctx.strokeText(e.name, e.x, e.y); ctx.fillText(e.name, e.x, e.y);
  }
  ctx.globalAlpha = 1; ctx.textAlign = "start"; ctx.textBaseline = "alphabetic";
}

function label(j, colour, ring, boxes) {
  const x = sx(X[j]), y = sy(Y[j]);
  ctx.strokeStyle = colour; ctx.lineWidth = ring;
  ctx.beginPath(); ctx.arc(x, y, 6, 0, 6.2832); ctx.stroke();
  ctx.font = "12px system-ui, sans-serif"; ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.9)";
  ctx.strokeText(D.words[j], x + 8, y - 6); ctx.fillStyle = colour; ctx.fillText(D.words[j], x + 8, y - 6);
  boxes.add({ kind: "special", index: j, x: x - 7, y: y - 19, w: 15 + ctx.measureText(D.words[j]).width, h: 26 });
}

function drawSelection(boxes, special) {
  const j = state.selected, s = snapshot();
  if (state.blend < 1) {  // the trail: the word's place at every snapshot
    ctx.strokeStyle = "rgba(0,0,0,0.55)"; ctx.lineWidth = 1.5; ctx.beginPath();
    for (let i = 0; i < T; i++) { const [x, y] = at(i, j); i ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y)); }
    ctx.stroke(); ctx.fillStyle = "rgba(0,0,0,0.55)";
    for (let i = 0; i < T; i++) {
      const [x, y] = at(i, j);
      ctx.beginPath(); ctx.arc(sx(x), sy(y), i === s ? 3.5 : 2, 0, 6.2832); ctx.fill();
    }
  }
  const nb = state.blend >= 1 && W ? w2vNeighbours(j) : lookup(j, s).list;
  for (const e of nb) if (visible(e.index)) { label(e.index, colourOf(e.index) === GREY ? "#555" : colourOf(e.index), 1.5, boxes); special.add(e.index); }
  label(j, "#000", 2.5, boxes); special.add(j);
}
