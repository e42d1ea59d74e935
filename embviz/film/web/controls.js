// The explorer's word panel, legend, pointer, keys and controls, and its window.embviz hook (after explorer.js,
// in the same scope).

// -- neighbours: from the page's arrays, or asked of the server that sent a page without them ---------
const served = new Map();  // "word:snapshot" → { list, pending, error }
function lookup(j, s) {
  if (!D.serve) {
    const out = [];
    if (nbrs[s]) for (let r = 0; r < K; r++) out.push({ index: nbrs[s].idx[j * K + r], cos: nbrs[s].cos[j * K + r] / D.cosScale });
    return { list: out, pending: false, error: null };
  }
  const key = `${j}:${s}`;
  let e = served.get(key);
  if (e) return e;
  e = { list: [], pending: true, error: null };
  served.set(key, e);
  fetch(`neighbours?word=${j}&snapshot=${s}`)
    .then((r) => r.json().catch(() => ({ error: `the server answered ${r.status} ${r.statusText}` })))
    .then((body) => {
      if (body.error !== undefined) { e.error = String(body.error); return; }
      const list = Array.isArray(body.neighbours) ? body.neighbours : [];
      e.list = list.filter((p) => Number.isInteger(p[0]) && p[0] >= 0 && p[0] < n).map((p) => ({ index: p[0], cos: Number(p[1]) }));
      if (e.list.length !== list.length) e.error = "the server's neighbours name words this page does not have";
    })
    .catch((err) => { e.error = `no neighbours from the server (${err.message})`; })
    .finally(() => { e.pending = false; lastInfo = ""; request(); });
  return e;
}
function w2vNeighbours(j) {
  const out = [];
  if (!W) return out;
  for (let r = 0; r < K; r++) if (W.NI[j * K + r] !== NONE) out.push({ index: W.NI[j * K + r], cos: W.NC[j * K + r] / D.cosScale });
  return out;
}

// -- text panels ----------------------------------------------------------------------------
const snapshot = () => Math.max(0, Math.min(T - 1, Math.round(state.t)));
const fmt = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
let lastInfo = "";
function updateInfo() {
  const s = snapshot();
  const text = `snapshot ${s}/${T - 1} · step ${run.steps[s].toLocaleString("en")} · epoch ${fmt(run.epochs[s], 2)}` +
    ` · train loss ${fmt(run.trainLoss[s], 3)} · val loss ${fmt(run.valLoss[s], 3)}`;
  if (text !== lastInfo) { $("info").textContent = text; lastInfo = text; showWord(); }
}

function fillList(ol, entries, gained) {
  ol.replaceChildren(...entries.map((e) => {
    const li = document.createElement("li"), cos = document.createElement("span");
    li.textContent = D.words[e.index];
    cos.className = "cos"; cos.textContent = e.cos.toFixed(3);
    li.append(cos);
    if (gained && gained.has(e.index)) li.className = "gained";
    li.dataset.index = e.index;
    li.addEventListener("click", () => select(e.index, true));
    return li;
  }));
}

function neighbourState() {
  const j = state.selected;
  if (j < 0) return null;
  const s = snapshot(), now = lookup(j, s), prev = s > 0 ? lookup(j, s - 1) : now;
  const before = prev.list.map((e) => e.index), nowSet = new Set(now.list.map((e) => e.index)), beforeSet = new Set(before);
  const ready = !now.pending && !prev.pending;
  return {
    word: D.words[j], snapshot: s, list: now.list, pending: !ready, error: now.error || prev.error,
    gained: ready ? now.list.filter((e) => !beforeSet.has(e.index)).map((e) => e.index) : [],
    lost: ready ? before.filter((i) => !nowSet.has(i)) : [],
    word2vec: w2vNeighbours(j),
  };
}

function showWord() {
  const st = neighbourState(), panel = $("word-panel");
  panel.hidden = st === null;
  if (!st) return;
  const j = state.selected;
  $("word-title").textContent = st.word;
  $("word-meta").textContent = `count ${D.counts[j].toLocaleString("en")} · ${D.paths[j] || "no category"} · snapshot ${st.snapshot}`;
  fillList($("neighbours"), st.list, new Set(st.gained));
  $("nbr-error").textContent = st.error ? `neighbours: ${st.error}` : st.pending ? "asking the server…" : "";
  $("lost").textContent = st.lost.length ? "lost since the previous snapshot: " + st.lost.map((i) => D.words[i]).join(", ") : "";
  $("w2v-list").hidden = !W;
  if (W) fillList($("w2v-neighbours"), st.word2vec, null);
}

function select(j, centre) {
  state.selected = j;
  if (centre && j >= 0) {
    positionsAt(state.t);
    state.view.ox += state.width / 2 - sx(X[j]); state.view.oy += state.height / 2 - sy(Y[j]);
  }
  lastInfo = ""; request();
}

// -- legend and levels ----------------------------------------------------------------------
function buildLegend() {
  const ul = $("legend"), l = LEVELS[state.level];
  ul.replaceChildren();
  if (state.settle) {
    const never = D.settle.filter((v) => v === null).length;
    for (let i = 0; i < 5; i++) addKey(ul, `settles by step ${Math.round(settleLo + (settleHi - settleLo) * i / 4).toLocaleString("en")}`, viridis(i / 4));
    addKey(ul, `never settles (${never})`, GREY);
  } else {
    l.categories.forEach((name, c) => {
      const li = addKey(ul, `${name} (${groups[state.level][c]})`, l.colours[c]);
      li.title = "click to hide or show";
      if (state.hidden[state.level][c]) li.className = "off";
      li.addEventListener("click", () => {
        state.hidden[state.level][c] ^= 1; li.className = state.hidden[state.level][c] ? "off" : ""; recolour(); request();
      });
    });
  }
  recolour();
}

// -- time -----------------------------------------------------------------------------------
function setTime(t) { state.t = Math.max(0, Math.min(T - 1, t)); slider.value = state.t; request(); }
function setPlaying(on) {
  if (on && state.t >= T - 1) state.t = 0;
  state.playing = on; playBtn.textContent = on ? "❚❚" : "▶"; lastTime = null; request();
}

// -- pointer --------------------------------------------------------------------------------
function nearest(px, py, radius) {
  let best = -1, bd = radius * radius;
  if (T === 0) return best;
  positionsAt(state.t);
  for (let j = 0; j < n; j++) {
    if (!visible(j)) continue;
    const dx = sx(X[j]) - px, dy = sy(Y[j]) - py, d = dx * dx + dy * dy;
    if (d < bd) { bd = d; best = j; }
  }
  return best;
}
let drag = null;
canvas.addEventListener("mousedown", (e) => { drag = { x: e.offsetX, y: e.offsetY, moved: false }; });
window.addEventListener("mouseup", (e) => {
  if (drag && !drag.moved && e.target === canvas) select(nearest(e.offsetX, e.offsetY, 10), false);
  drag = null; canvas.classList.remove("dragging");
});
canvas.addEventListener("mousemove", (e) => {
  if (drag && (drag.moved || Math.abs(e.offsetX - drag.x) + Math.abs(e.offsetY - drag.y) > 3)) {
    drag.moved = true; canvas.classList.add("dragging");
    state.view.ox += e.offsetX - drag.x; state.view.oy += e.offsetY - drag.y;
    drag.x = e.offsetX; drag.y = e.offsetY; tooltip.hidden = true; request(); return;
  }
  const j = nearest(e.offsetX, e.offsetY, 10);
  if (j !== state.hover) { state.hover = j; request(); }
  tooltip.hidden = j < 0;
  if (j >= 0) {
    tooltip.textContent = `${D.words[j]}\ncount ${D.counts[j].toLocaleString("en")}\n${D.paths[j] || "no category"}`;
    tooltip.style.left = `${Math.min(e.offsetX + 14, state.width - 200)}px`;
    tooltip.style.top = `${e.offsetY + 14}px`;
  }
});
canvas.addEventListener("mouseleave", () => { state.hover = -1; tooltip.hidden = true; request(); });
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const k = Math.exp(-e.deltaY * 0.0015), v = state.view;
  v.ox = e.offsetX - (e.offsetX - v.ox) * k; v.oy = e.offsetY - (e.offsetY - v.oy) * k; v.scale *= k;
  request();
}, { passive: false });
$("curves").addEventListener("click", (e) => { setPlaying(false); setTime(curves.at(e.offsetX, T)); });

// -- controls -------------------------------------------------------------------------------
slider.addEventListener("input", () => { state.t = Number(slider.value); request(); });
playBtn.addEventListener("click", () => setPlaying(!state.playing));
LEVELS.forEach((l, i) => { const o = document.createElement("option"); o.value = i; o.textContent = l.name; levelSel.append(o); });
levelSel.value = state.level;
levelSel.disabled = !D.levels.length;
levelSel.addEventListener("change", () => { state.level = Number(levelSel.value); buildLegend(); request(); });
$("fit").addEventListener("click", () => { state.follow = false; $("follow").checked = false; fit(); request(); });
$("follow").checked = state.follow;
$("follow").addEventListener("change", (e) => { state.follow = e.target.checked; if (!state.follow) fit(); request(); });
if (W) {
  $("w2v-toggle").hidden = false;
  $("w2v").addEventListener("change", (e) => { state.blendTo = e.target.checked ? 1 : 0; request(); });
}
if (D.settle) {
  $("settle-toggle").hidden = false;
  $("settle").addEventListener("change", (e) => { state.settle = e.target.checked; buildLegend(); request(); });
}
// Search over the whole vocabulary; the completions are the first COMPLETIONS words starting with what is typed.
const lower = D.words.map((w) => w.toLowerCase()), COMPLETIONS = 20;
function complete(q) {
  const low = q.toLowerCase(), out = [];
  for (let j = 0; j < n && out.length < COMPLETIONS && low; j++) if (lower[j].startsWith(low)) out.push(D.words[j]);
  $("wordlist").replaceChildren(...out.map((w) => { const o = document.createElement("option"); o.value = w; return o; }));
}
function find(q) {
  if (!q) return -1;
  let j = D.words.indexOf(q);
  if (j < 0) j = lower.indexOf(q.toLowerCase());
  if (j < 0) { const low = q.toLowerCase(); j = lower.findIndex((w) => w.startsWith(low)); }
  return j;
}
function runSearch() {
  const j = find(search.value.trim());
  search.classList.toggle("notfound", j < 0 && search.value.trim() !== "");
  $("found").textContent = j < 0 ? (search.value.trim() ? "not found" : "") : "";
  state.found = j;
  if (j >= 0) select(j, true);
}
search.addEventListener("input", () => complete(search.value.trim()));
search.addEventListener("change", runSearch);
search.addEventListener("keydown", (e) => { if (e.key === "Enter") runSearch(); });
document.addEventListener("keydown", (e) => {
  if (e.target === search || e.target.tagName === "SELECT") return;
  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
    e.preventDefault(); setPlaying(false);
    setTime(e.key === "ArrowRight" ? Math.floor(state.t + 1e-6) + 1 : Math.ceil(state.t - 1e-6) - 1);
  } else if (e.key === " " && e.target.tagName !== "BUTTON") { e.preventDefault(); setPlaying(!state.playing); }
});

// -- the hook for tests, benchmarks and a live feed (append) ---------------------------------
function scrub(frameCount) {
  return new Promise((resolve) => {
    let i = 0, start = null, drawMs = 0;
    const step = (now) => {
      if (start === null) start = now;
      else drawMs += timing.lastDrawMs;
      if (i === frameCount) {
        resolve({ frames: frameCount, fps: 1000 * frameCount / (now - start), drawMs: drawMs / frameCount });
        return;
      }
      slider.value = ((i * 0.37) % 1) * (T - 1); slider.dispatchEvent(new Event("input"));
      i++; requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
}
const hook = Object.freeze({
  n, k: K,
  get T() { return T; },
  snapshotCount: () => T,
  words: () => D.words.slice(),
  time: () => state.t,
  snapshot,
  level: () => LEVELS[state.level].name,
  dataPosition: (j) => { positionsAt(state.t); return [X[j], Y[j]]; },
  screenPosition: (j) => {
    positionsAt(state.t);
    const r = canvas.getBoundingClientRect();
    return [r.left + sx(X[j]), r.top + sy(Y[j])];
  },
  drawnPoints: () => state.drawn,
  renderer: () => (points ? "webgl2" : "none"),
  labels: () => state.labels.map((b) => ({ ...b })),
  selected: () => state.selected,
  found: () => state.found,
  neighbours: () => { const st = neighbourState(); return st && JSON.parse(JSON.stringify(st)); },
  colours: () => Array.from({ length: n }, (_, j) => colourOf(j)),
  hasWord2vec: () => W !== null,
  word2vecShown: () => state.blend >= 1,
  firstPaint: () => timing.firstPaint,
  view: () => ({ follow: state.follow, zoom: zoom(), caption: caption() }),
  scrub,
  // A live feed's way in: more snapshots, in the page's own format ({positions, bounds, steps, epochs,
  // trainLoss, valLoss, loss, curves, and nbrIndex/nbrType/nbrCos unless served}).
  append: (chunk) => {
    const newest = T === 0 || state.t >= T - 1 - 1e-6;  // watching the newest snapshot: go on to the new one
    const first = T === 0;
    append(chunk);
    if (first && T) fit();
    if (newest && !state.playing) setTime(T - 1); else request();
    return T;
  },
  // A live feed's final layout of a snapshot it sent with a provisional one (the same chunk format, one snapshot).
  // The first snapshot's provisional placement is in other coordinates: its replacement fits the view again.
  replace: (t, chunk) => {
    replace(t, chunk);
    if (t === 0) fit();
    request();
  },
});
Object.defineProperty(window, "embviz", { value: hook, writable: false, configurable: false });

$("title").textContent = D.title;
document.title = `${D.title} · embviz explorer`;
buildLegend();
window.addEventListener("resize", resize);
resize();
