// embviz explorer: draws the run's trajectory on a 2-D canvas. Tokens reach the DOM only as textContent.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("embviz-data").textContent);
  const n = D.n, K = D.k;
  let T = D.T;  // grows on a live page (appendFrame)

  function decode(b64, Type) {
    if (Uint8Array.fromBase64) return new Type(Uint8Array.fromBase64(b64).buffer);
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }
  let P = decode(D.positions, Float32Array);         // [T, n, 2]
  let NI = decode(D.nbrIndex, Uint16Array);          // [T, n, K]
  let NC = decode(D.nbrCos, Float32Array);           // [T, n, K]
  const W = D.word2vec ? {
    P: decode(D.word2vec.positions, Float32Array),   // [n, 2], nan = no vector
    NI: decode(D.word2vec.nbrIndex, Uint16Array),    // [n, K], 65535 = none
    NC: decode(D.word2vec.nbrCos, Float32Array),
  } : null;

  const $ = (id) => document.getElementById(id);
  const canvas = $("map"), ctx = canvas.getContext("2d");
  const slider = $("slider"), playBtn = $("play"), speedSel = $("speed"), levelSel = $("level");
  const search = $("search"), tooltip = $("tooltip"), curves = $("curves"), cctx = curves.getContext("2d");
  const GREY = "#c7c7c7";
  const LEVELS = D.levels.length ? D.levels : [{ name: "none", categories: [], colours: [], codes: new Array(n).fill(-1) }];

  const state = {
    t: 0, playing: false, level: D.level, selected: -1, hover: -1, found: -1, blend: 0, blendTo: 0,
    hidden: LEVELS.map((l) => new Uint8Array(l.categories.length)),
    view: { scale: 1, ox: 0, oy: 0 }, drawn: 0, width: 0, height: 0, follow: D.view === "follow",
  };
  const timing = { firstPaint: null, lastDrawMs: 0 };

  // -- geometry -------------------------------------------------------------------------------
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < P.length; i += 2) {
    minX = Math.min(minX, P[i]); maxX = Math.max(maxX, P[i]);
    minY = Math.min(minY, P[i + 1]); maxY = Math.max(maxY, P[i + 1]);
  }
  const ease = (f) => f * f * (3 - 2 * f);
  const X = new Float64Array(n), Y = new Float64Array(n);

  function positionsAt(t) {
    const i0 = Math.max(0, Math.min(T - 1, Math.floor(t))), i1 = Math.min(T - 1, i0 + 1), f = ease(t - i0);
    const a = i0 * n * 2, b = i1 * n * 2, w = state.blend;
    for (let j = 0; j < n; j++) {
      let x = P[a + 2 * j] * (1 - f) + P[b + 2 * j] * f, y = P[a + 2 * j + 1] * (1 - f) + P[b + 2 * j + 1] * f;
      if (W && w > 0) { x = x * (1 - w) + W.P[2 * j] * w; y = y * (1 - w) + W.P[2 * j + 1] * w; }
      X[j] = x; Y[j] = y;
    }
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

  // The view that follows the points: each snapshot's bounds [T, 4] (min x, max x, min y, max y), eased between
  // snapshots like the points; its scale against the fixed fit is the zoom the page states.
  const bounds = Array.from({ length: T }, (_, t) => {
    let b = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = t * n * 2; i < (t + 1) * n * 2; i += 2) {
      b = [Math.min(b[0], P[i]), Math.max(b[1], P[i]), Math.min(b[2], P[i + 1]), Math.max(b[3], P[i + 1])];
    }
    return b;
  });
  function followView(t) {
    const i0 = Math.max(0, Math.min(T - 1, Math.floor(t))), i1 = Math.min(T - 1, i0 + 1), f = ease(t - i0);
    const b = bounds[i0].map((v, c) => v * (1 - f) + bounds[i1][c] * f);
    const s = fitScale(b[1] - b[0], b[3] - b[2]);
    return { scale: s, ox: state.width / 2 - s * (b[0] + b[1]) / 2, oy: state.height / 2 + s * (b[2] + b[3]) / 2 };
  }
  const zoom = () => state.view.scale / fitScale(maxX - minX, maxY - minY);
  const caption = () => (state.follow ? `scale: follows the points (zoom ×${zoom().toFixed(1)})`
    : "scale: fixed for the whole run");

  function resize() {
    const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const first = state.width === 0;
    state.width = r.width; state.height = r.height;
    canvas.width = Math.round(r.width * dpr); canvas.height = Math.round(r.height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const cr = curves.getBoundingClientRect();
    curves.width = Math.round(cr.width * dpr); curves.height = Math.round(cr.height * dpr);
    cctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (first) fit();
    request();
  }

  // -- categories -----------------------------------------------------------------------------
  const groups = LEVELS.map((l) => {
    const members = l.categories.map(() => []), loose = [];
    l.codes.forEach((c, j) => (c >= 0 ? members[c] : loose).push(j));
    return { loose: Int32Array.from(loose), members: members.map((m) => Int32Array.from(m)) };
  });
  const colourOf = (j) => { const l = LEVELS[state.level], c = l.codes[j]; return c >= 0 ? l.colours[c] : GREY; };
  const visible = (j) => {
    const c = LEVELS[state.level].codes[j];
    return !(c >= 0 && state.hidden[state.level][c]) && !(state.blend > 0 && W && Number.isNaN(W.P[2 * j]));
  };

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

  function draw() {
    const start = performance.now();
    if (T === 0) {  // a live page before the run's first snapshot
      ctx.clearRect(0, 0, state.width, state.height); state.drawn = 0;
      $("info").textContent = "waiting for the first snapshot…"; lastInfo = "";
      return;
    }
    positionsAt(state.t);
    if (state.follow) state.view = followView(state.t);
    ctx.clearRect(0, 0, state.width, state.height);
    const r = n > 5000 ? 1.5 : n > 1000 ? 2.5 : 3.5, lv = state.level, g = groups[lv];
    let drawn = 0;
    const batch = (list, colour) => {
      ctx.fillStyle = colour; ctx.beginPath();
      for (let i = 0; i < list.length; i++) {
        const j = list[i];
        if (!visible(j)) continue;
        const x = sx(X[j]), y = sy(Y[j]);
        ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 6.2832); drawn++;
      }
      ctx.fill();
    };
    ctx.globalAlpha = state.selected >= 0 ? 0.45 : 0.85;
    batch(g.loose, GREY);
    for (let c = 0; c < g.members.length; c++) if (!state.hidden[lv][c]) batch(g.members[c], LEVELS[lv].colours[c]);
    ctx.globalAlpha = 1;
    state.drawn = drawn;
    if (state.selected >= 0) drawSelection();
    for (const j of [state.found, state.hover]) if (j >= 0 && j !== state.selected) label(j, "#000", 2);
    const text = caption();
    ctx.font = "12px system-ui, sans-serif"; ctx.fillStyle = "#666"; ctx.fillText(text, 8, state.height - 8);
    if ($("scale").textContent !== text) $("scale").textContent = text;
    drawCurves();
    updateInfo();
    timing.lastDrawMs = performance.now() - start;
    if (timing.firstPaint === null) requestAnimationFrame(() => { timing.firstPaint = performance.now(); });
  }

  function label(j, colour, ring) {
    const x = sx(X[j]), y = sy(Y[j]);
    ctx.strokeStyle = colour; ctx.lineWidth = ring;
    ctx.beginPath(); ctx.arc(x, y, 6, 0, 6.2832); ctx.stroke();
    ctx.font = "12px system-ui, sans-serif"; ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.9)";
    ctx.strokeText(D.words[j], x + 8, y - 6); ctx.fillStyle = colour; ctx.fillText(D.words[j], x + 8, y - 6);
  }

  function drawSelection() {
    const j = state.selected, s = snapshot();
    if (state.blend < 1) {  // the trail: the word's place at every snapshot
      ctx.strokeStyle = "rgba(0,0,0,0.55)"; ctx.lineWidth = 1.5; ctx.beginPath();
      for (let i = 0; i < T; i++) {
        const x = sx(P[(i * n + j) * 2]), y = sy(P[(i * n + j) * 2 + 1]);
        i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      }
      ctx.stroke(); ctx.fillStyle = "rgba(0,0,0,0.55)";
      for (let i = 0; i < T; i++) {
        ctx.beginPath(); ctx.arc(sx(P[(i * n + j) * 2]), sy(P[(i * n + j) * 2 + 1]), i === s ? 3.5 : 2, 0, 6.2832); ctx.fill();
      }
    }
    const nb = state.blend >= 1 && W ? w2vNeighbours(j).map((e) => e.index) : neighbours(j, s).map((e) => e.index);
    for (const i of nb) if (visible(i)) label(i, colourOf(i) === GREY ? "#555" : colourOf(i), 1.5);
    label(j, "#000", 2.5);
  }

  // -- emergence panel ------------------------------------------------------------------------
  // Each curve its own colour (grey is the loss's): tab10 without grey, then hues spaced by the golden angle.
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"];
  const curveColour = (i) => (i < TAB10.length ? TAB10[i] : `hsl(${Math.round((i * 137.508) % 360)}, 65%, 42%)`);
  const curveNames = Object.keys(D.curves);
  const cx = (i, w) => 6 + (w - 12) * (T > 1 ? i / (T - 1) : 0);
  function drawCurves() {
    const w = curves.clientWidth, h = curves.clientHeight, top = 6, bottom = h - 6;
    const cy = (v) => bottom - (bottom - top) * v;
    cctx.clearRect(0, 0, w, h);
    const loss = D.loss.filter((v) => v !== null);
    const series = curveNames.map((name, i) => ({ values: D.curves[name], colour: curveColour(i), dash: [] }));
    if (loss.length) {
      const lo = Math.min(...loss), hi = Math.max(...loss);
      series.push({ values: D.loss.map((v) => (v === null ? null : (v - lo) / Math.max(hi - lo, 1e-9))), colour: "#777", dash: [4, 3] });
    }
    for (const s of series) {
      cctx.strokeStyle = s.colour; cctx.setLineDash(s.dash); cctx.lineWidth = 1.5; cctx.beginPath();
      let open = false;
      s.values.forEach((v, i) => {
        if (v === null) { open = false; return; }
        open ? cctx.lineTo(cx(i, w), cy(v)) : cctx.moveTo(cx(i, w), cy(v)); open = true;
      });
      cctx.stroke();
    }
    cctx.setLineDash([]); cctx.strokeStyle = "#d62728"; cctx.lineWidth = 1;
    cctx.beginPath(); cctx.moveTo(cx(state.t, w), 0); cctx.lineTo(cx(state.t, w), h); cctx.stroke();
  }
  function buildCurveLegend() {
    const ul = $("curve-legend");
    curveNames.forEach((name, i) => addKey(ul, name, curveColour(i)));
    if (D.loss.some((v) => v !== null)) addKey(ul, "loss (scaled, dashed)", "#777");
  }
  function addKey(ul, text, colour) {
    const li = document.createElement("li"), sw = document.createElement("span");
    sw.className = "swatch"; sw.style.background = colour;
    li.append(sw, document.createTextNode(text)); ul.append(li);
  }

  // -- text panels ----------------------------------------------------------------------------
  const snapshot = () => Math.max(0, Math.min(T - 1, Math.round(state.t)));
  const fmt = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  let lastInfo = "";
  function updateInfo() {
    const s = snapshot();
    const text = `snapshot ${s}/${T - 1} · step ${D.steps[s].toLocaleString("en")} · epoch ${fmt(D.epochs[s], 2)}` +
      ` · train loss ${fmt(D.trainLoss[s], 3)} · val loss ${fmt(D.valLoss[s], 3)}`;
    if (text !== lastInfo) { $("info").textContent = text; lastInfo = text; showWord(); }
  }

  function neighbours(j, s) {
    const out = [];
    for (let r = 0; r < K; r++) out.push({ index: NI[(s * n + j) * K + r], cos: NC[(s * n + j) * K + r] });
    return out;
  }
  function w2vNeighbours(j) {
    const out = [];
    if (!W) return out;
    for (let r = 0; r < K; r++) if (W.NI[j * K + r] !== 65535) out.push({ index: W.NI[j * K + r], cos: W.NC[j * K + r] });
    return out;
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
    const s = snapshot(), now = neighbours(j, s);
    const before = s > 0 ? neighbours(j, s - 1).map((e) => e.index) : now.map((e) => e.index);
    const nowSet = new Set(now.map((e) => e.index)), beforeSet = new Set(before);
    return {
      word: D.words[j], snapshot: s, list: now,
      gained: now.filter((e) => !beforeSet.has(e.index)).map((e) => e.index),
      lost: before.filter((i) => !nowSet.has(i)),
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
    const ul = $("legend"), l = LEVELS[state.level], g = groups[state.level];
    ul.replaceChildren(...l.categories.map((name, c) => {
      const li = document.createElement("li"), sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = l.colours[c];
      li.append(sw, document.createTextNode(`${name} (${g.members[c].length})`));
      li.title = "click to hide or show";
      if (state.hidden[state.level][c]) li.className = "off";
      li.addEventListener("click", () => {
        state.hidden[state.level][c] ^= 1; li.className = state.hidden[state.level][c] ? "off" : ""; request();
      });
      return li;
    }));
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
  curves.addEventListener("click", (e) => {
    const w = curves.clientWidth;
    setPlaying(false); setTime(Math.round((e.offsetX - 6) / Math.max(w - 12, 1) * (T - 1)));
  });

  // -- controls -------------------------------------------------------------------------------
  slider.max = T - 1;
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
  const wordlist = $("wordlist");
  wordlist.replaceChildren(...D.words.map((w) => { const o = document.createElement("option"); o.value = w; return o; }));
  function find(q) {
    if (!q) return -1;
    let j = D.words.indexOf(q);
    if (j < 0) { const low = q.toLowerCase(); j = D.words.findIndex((w) => w.toLowerCase() === low); }
    if (j < 0) { const low = q.toLowerCase(); j = D.words.findIndex((w) => w.toLowerCase().startsWith(low)); }
    return j;
  }
  function runSearch() {
    const j = find(search.value.trim());
    search.classList.toggle("notfound", j < 0 && search.value.trim() !== "");
    $("found").textContent = j < 0 ? (search.value.trim() ? "not found" : "") : "";
    state.found = j;
    if (j >= 0) select(j, true);
  }
  search.addEventListener("change", runSearch);
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") runSearch(); });
  document.addEventListener("keydown", (e) => {
    if (e.target === search || e.target.tagName === "SELECT") return;
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault(); setPlaying(false);
      setTime(e.key === "ArrowRight" ? Math.floor(state.t + 1e-6) + 1 : Math.ceil(state.t - 1e-6) - 1);
    } else if (e.key === " " && e.target.tagName !== "BUTTON") { e.preventDefault(); setPlaying(!state.playing); }
  });

  // -- live: a snapshot appended while the run trains (live.js calls appendFrame) -----------------
  function grown(a, add) {  // a view of a buffer that doubles when full, so T appends copy O(T) in all
    const len = a.length + add.length;
    let buf = a.buffer.byteLength / a.BYTES_PER_ELEMENT >= len ? new a.constructor(a.buffer, 0, len) : null;
    if (!buf) { buf = new a.constructor(Math.max(len, 2 * a.length)).subarray(0, len); buf.set(a); }
    buf.set(add, a.length);
    return buf;
  }
  function appendFrame(f) {
    const p = decode(f.positions, Float32Array);     // [n, 2]
    P = grown(P, p); NI = grown(NI, decode(f.nbrIndex, Uint16Array)); NC = grown(NC, decode(f.nbrCos, Float32Array));
    D.steps.push(f.step); D.epochs.push(f.epoch); D.trainLoss.push(f.trainLoss); D.valLoss.push(f.valLoss);
    D.loss.push(f.loss);
    for (const name of curveNames) D.curves[name].push(f.curves[name] ?? null);
    let b = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < p.length; i += 2) b = [Math.min(b[0], p[i]), Math.max(b[1], p[i]), Math.min(b[2], p[i + 1]), Math.max(b[3], p[i + 1])];
    bounds.push(b);
    minX = Math.min(minX, b[0]); maxX = Math.max(maxX, b[1]); minY = Math.min(minY, b[2]); maxY = Math.max(maxY, b[3]);
    const newest = T === 0 || state.t >= T - 1 - 1e-6;  // watching the newest snapshot: go on to this one
    T += 1; slider.max = T - 1;
    if (T === 1) { fit(); buildCurveLegend(); }
    if (newest && !state.playing) setTime(T - 1); else request();
  }
  if (D.live) Object.defineProperty(window, "embvizFrames", { value: Object.freeze({ appendFrame }) });

  // -- read-only hook for tests and benchmarks ------------------------------------------------
  function scrub(frames) {
    return new Promise((resolve) => {
      let i = 0, start = null, drawMs = 0;
      const step = (now) => {
        if (start === null) start = now;
        else drawMs += timing.lastDrawMs;
        if (i === frames) {
          resolve({ frames, fps: 1000 * frames / (now - start), drawMs: drawMs / frames });
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
    selected: () => state.selected,
    found: () => state.found,
    neighbours: () => { const st = neighbourState(); return st && JSON.parse(JSON.stringify(st)); },
    colours: () => Array.from({ length: n }, (_, j) => colourOf(j)),
    hasWord2vec: () => W !== null,
    word2vecShown: () => state.blend >= 1,
    firstPaint: () => timing.firstPaint,
    view: () => ({ follow: state.follow, zoom: zoom(), caption: caption() }),
    scrub,
  });
  Object.defineProperty(window, "embviz", { value: hook, writable: false, configurable: false });

  $("title").textContent = D.title;
  document.title = `${D.title} · embviz explorer`;
  buildLegend(); if (T) buildCurveLegend();
  window.addEventListener("resize", resize);
  resize();
})();
