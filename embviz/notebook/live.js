// embviz live map: an anywidget view drawing the run's latest layout on a canvas. Tokens reach the DOM only as
// textContent. The model holds words, a colour per word, and positions: float32 little-endian [n, 2].
function positionsOf(model) {
  const view = model.get("positions");
  const bytes = view instanceof DataView ? view : new DataView(view.buffer || view);
  const n = Math.floor(bytes.byteLength / 8);
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) xy[i] = bytes.getFloat32(4 * i, true);
  return xy;
}

function render({ model, el }) {
  el.classList.add("embviz-live");
  const caption = document.createElement("div");
  caption.className = "embviz-live-caption";
  const canvas = document.createElement("canvas");
  const legend = document.createElement("ul");
  legend.className = "embviz-live-legend";
  const tip = document.createElement("div");
  tip.className = "embviz-live-tip";
  tip.hidden = true;
  const stage = document.createElement("div");
  stage.className = "embviz-live-stage";
  stage.append(canvas, tip);
  el.append(caption, stage, legend);
  let screen = new Float32Array(0);

  function buildLegend() {
    legend.replaceChildren();
    const names = model.get("categories"), colours = model.get("palette");
    names.forEach((name, i) => {
      const li = document.createElement("li"), dot = document.createElement("span");
      dot.className = "embviz-live-swatch";
      dot.style.background = colours[i];
      li.append(dot, document.createTextNode(name));
      legend.append(li);
    });
  }

  let shown = new Float32Array(0), from = null, target = null, started = 0, frame = 0;
  const GLIDE_MS = 400;

  function paint(points) {
    const words = model.get("words"), codes = model.get("codes"), palette = model.get("palette");
    const n = Math.min(words.length, points.length / 2);
    const dpr = window.devicePixelRatio || 1, width = stage.clientWidth || 640, height = model.get("height");
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let j = 0; j < n; j++) {
      const x = points[2 * j], y = points[2 * j + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    const pad = 12, span = Math.max(x1 - x0, y1 - y0, 1e-9);
    const scale = Math.min(width - 2 * pad, height - 2 * pad) / span;
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    screen = new Float32Array(2 * n);
    let drawn = 0;
    for (let j = 0; j < n; j++) {
      const x = points[2 * j], y = points[2 * j + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) { screen[2 * j] = NaN; continue; }
      const px = width / 2 + (x - cx) * scale, py = height / 2 - (y - cy) * scale;
      screen[2 * j] = px; screen[2 * j + 1] = py;
      ctx.fillStyle = codes[j] >= 0 ? palette[codes[j]] : "#999999";
      ctx.beginPath();
      ctx.arc(px, py, 3, 0, 2 * Math.PI);
      ctx.fill();
      drawn++;
    }
    shown = points;
    return drawn;
  }

  function settle(drawn) {
    // what the map shows once a glide has ended: the caption and the data attributes the DOM exposes
    const snapshots = model.get("snapshots"), state = model.get("state"), purity = model.get("purity");
    const measured = purity === null ? "" : ` · purity@10 (${model.get("level")}) ${purity.toFixed(3)}`;
    caption.textContent = snapshots
      ? `${model.get("title")} · step ${model.get("step").toLocaleString("en")} · snapshot ${snapshots}${measured} · ${state}`
      : `${model.get("title")} · ${state}`;
    el.dataset.drawnPoints = String(drawn);
    el.dataset.snapshots = String(snapshots);
    el.dataset.step = String(model.get("step"));
    el.dataset.state = state;
  }

  function glide(now) {
    const t = Math.min(1, (now - started) / GLIDE_MS), e = t * t * (3 - 2 * t);
    const points = new Float32Array(target.length);
    for (let i = 0; i < target.length; i++) points[i] = from[i] + (target[i] - from[i]) * e;
    const drawn = paint(t < 1 ? points : target);
    if (t < 1) frame = requestAnimationFrame(glide);
    else { frame = 0; settle(drawn); }
  }

  function draw() {
    // glide from what is shown to the new positions (the same words), or jump when there is nothing to glide from
    target = positionsOf(model);
    cancelAnimationFrame(frame);
    if (shown.length === target.length && shown.length > 0) {
      from = shown;
      started = performance.now();
      frame = requestAnimationFrame(glide);
    } else {
      settle(paint(target));
    }
  }

  function redraw() {
    cancelAnimationFrame(frame);
    frame = 0;
    target = positionsOf(model);
    settle(paint(target));
  }

  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    let best = -1, bestD = 64;
    for (let j = 0; j < screen.length / 2; j++) {
      const d = (screen[2 * j] - mx) ** 2 + (screen[2 * j + 1] - my) ** 2;
      if (d < bestD) { best = j; bestD = d; }
    }
    tip.hidden = best < 0;
    if (best >= 0) {
      tip.textContent = model.get("words")[best];
      tip.style.left = `${screen[2 * best] + 8}px`;
      tip.style.top = `${screen[2 * best + 1] - 8}px`;
    }
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });

  const relegend = () => { buildLegend(); redraw(); };
  model.on("change:positions", draw);
  model.on("change:state", redraw);
  model.on("change:words", redraw);
  model.on("change:categories", relegend);
  const resize = new ResizeObserver(redraw);
  resize.observe(stage);
  buildLegend();
  redraw();
  return () => {
    cancelAnimationFrame(frame);
    resize.disconnect();
    model.off("change:positions", draw);
    model.off("change:state", redraw);
    model.off("change:words", redraw);
    model.off("change:categories", relegend);
  };
}

export default { render };
