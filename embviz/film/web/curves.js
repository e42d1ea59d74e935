// The emergence panel: one line per curve of `run.curves` (values per snapshot, null = none) and the loss
// scaled to 0..1, dashed; `run` grows as snapshots are appended. Also the sequential colormap.
// Each curve its own colour (grey is the loss's): tab10 without grey, then hues spaced by the golden angle.
const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"];
const curveColour = (i) => (i < TAB10.length ? TAB10[i] : `hsl(${Math.round((i * 137.508) % 360)}, 65%, 42%)`);
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function viridis(v) {  // v in 0..1 → "#rrggbb"
  const x = Math.max(0, Math.min(1, v)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  return "#" + VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f).toString(16).padStart(2, "0")).join("");
}

function addKey(ul, text, colour) {
  const li = document.createElement("li"), sw = document.createElement("span");
  sw.className = "swatch"; sw.style.background = colour;
  li.append(sw, document.createTextNode(text)); ul.append(li);
  return li;
}

function makeCurves(canvas, run, legend) {
  const ctx = canvas.getContext("2d"), names = Object.keys(run.curves);
  names.forEach((name, i) => addKey(legend, name, curveColour(i)));
  if (run.loss.some((v) => v !== null)) addKey(legend, "loss (scaled, dashed)", "#777");
  const cx = (i, w, T) => 6 + (w - 12) * (T > 1 ? i / (T - 1) : 0);
  return {
    ctx,
    // The snapshot under x (CSS px) of T.
    at: (x, T) => Math.round((x - 6) / Math.max(canvas.clientWidth - 12, 1) * (T - 1)),
    draw(t, T) {
      const w = canvas.clientWidth, h = canvas.clientHeight, top = 6, bottom = h - 6;
      const cy = (v) => bottom - (bottom - top) * v;
      ctx.clearRect(0, 0, w, h);
      const loss = run.loss.filter((v) => v !== null);
      const series = names.map((name, i) => ({ values: run.curves[name], colour: curveColour(i), dash: [] }));
      if (loss.length) {
        const lo = Math.min(...loss), hi = Math.max(...loss);
        series.push({ values: run.loss.map((v) => (v === null ? null : (v - lo) / Math.max(hi - lo, 1e-9))), colour: "#777", dash: [4, 3] });
      }
      for (const s of series) {
        ctx.strokeStyle = s.colour; ctx.setLineDash(s.dash); ctx.lineWidth = 1.5; ctx.beginPath();
        let open = false;
        s.values.forEach((v, i) => {
          if (v === null) { open = false; return; }
          open ? ctx.lineTo(cx(i, w, T), cy(v)) : ctx.moveTo(cx(i, w, T), cy(v)); open = true;
        });
        ctx.stroke();
      }
      ctx.setLineDash([]); ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(cx(t, w, T), 0); ctx.lineTo(cx(t, w, T), h); ctx.stroke();
    },
  };
}
