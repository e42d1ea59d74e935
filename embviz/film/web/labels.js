// Labels without overlap: boxes placed greedily in priority order, each tested against those already placed
// through a grid of CELL-pixel buckets. Zooming in spreads the points while boxes keep their pixel size, so
// more labels fit. At most MAX_LABELS are drawn, from the first MAX_TRIES words on screen.
const LABEL_FONT = "11px system-ui, sans-serif", LABEL_HEIGHT = 13, MAX_LABELS = 300, MAX_TRIES = 3000, CELL = 48;

function makeBoxes() {
  const grid = new Map(), placed = [];
  const keys = (b) => {
    const out = [];
    for (let gx = Math.floor(b.x / CELL); gx <= Math.floor((b.x + b.w) / CELL); gx++) {
      for (let gy = Math.floor(b.y / CELL); gy <= Math.floor((b.y + b.h) / CELL); gy++) out.push(gx * 65536 + gy);
    }
    return out;
  };
  const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  return {
    placed,
    free(b) {
      for (const key of keys(b)) for (const o of grid.get(key) || []) if (overlaps(b, o)) return false;
      return true;
    },
    add(b) {
      placed.push(b);
      for (const key of keys(b)) { const list = grid.get(key); list ? list.push(b) : grid.set(key, [b]); }
    },
  };
}

// Word labels over ctx: words in `order` (most frequent first) that are shown and on screen, right of their
// point; `reserved` boxes (cluster names, the selection's) are kept clear. Returns the boxes placed.
function makeLabeller(ctx, words, order) {
  const widths = new Float32Array(words.length).fill(-1);
  const widthOf = (j) => {
    if (widths[j] < 0) { ctx.font = LABEL_FONT; widths[j] = ctx.measureText(words[j]).width; }
    return widths[j];
  };
  return function place(boxes, shown, X, Y, view, width, height) {
    const start = boxes.placed.length;
    let tries = 0;
    for (let r = 0; r < order.length && boxes.placed.length - start < MAX_LABELS && tries < MAX_TRIES; r++) {
      const j = order[r], x = view.ox + X[j] * view.scale, y = view.oy - Y[j] * view.scale;
      if (!(x >= 0 && y >= 0 && x < width && y < height) || !shown(j)) continue;
      tries++;
      const b = { index: j, text: words[j], kind: "word", x: x + 4, y: y - LABEL_HEIGHT / 2, w: widthOf(j), h: LABEL_HEIGHT };
      if (b.x + b.w <= width && boxes.free(b)) boxes.add(b);
    }
    ctx.font = LABEL_FONT; ctx.textBaseline = "middle"; ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.85)";
    ctx.fillStyle = "#333";
    for (let i = start; i < boxes.placed.length; i++) {
      const b = boxes.placed[i];
      ctx.strokeText(b.text, b.x, b.y + b.h / 2); ctx.fillText(b.text, b.x, b.y + b.h / 2);
    }
    ctx.textBaseline = "alphabetic";
    return boxes.placed.slice(start);
  };
}
