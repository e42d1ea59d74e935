"""``embviz explore`` at a whole vocabulary: 50,304 tokens × 154 snapshots (Pythia's vocabulary and checkpoints).

1. The page: first paint, scrubbing frames/s, search and labels measured in the page (``window.embviz``)
   in Debian's headless chromium, for the page ``explore --serve`` writes at 50,304 × 154 (uint16 layouts,
   no neighbour arrays), beside the reference: the Canvas 2D page of commit REFERENCE (before WebGL) at
   its own limit, 20,000 words × 12 snapshots, and this page at that same size. Floors at 50,304 × 154:
   first paint ≤ 3 s, ≥ 30 frames/s. Beside them, the floor of the browser's GL: a bare page (BARE) drawing
   as many points, one uint16 attribute, 3 px opaque squares, nothing else, on a canvas of the page's stage size.
   The layouts are a synthetic drift from noise to category clusters
   (the page's cost does not depend on what they show); the words' metadata and curves come from a real
   ``explore`` of a toy run with the same snapshots.
2. The largest page chromium opens: the 50,304 × 154 served page's data repeated k times along the
   snapshots (pages of 41 MB to ~580 MB), each opened and its first paint timed; the grounds for
   ``MAX_PAGE_BYTES``.
3. The layouts: PCA, UMAP and t-SNE timed on 50,304 × 768 matrices (Pythia-160M's width) for 2 and 3
   snapshots (t-SNE on 1,000 words, scaled by n log n), the difference extrapolated to 154 snapshots.

    python benchmarks/bench_explore_scale.py [--smoke] [--part page|sizes|layouts|all]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_emergence import matmul_peak  # noqa: E402
from bench_explore import chromium  # noqa: E402

from embviz.film.animate_options import AnimateOptions  # noqa: E402
from embviz.film.explore import MAX_PAGE_BYTES, _b64, explore, quantise, render_page, script_json  # noqa: E402
from embviz.layout.projectors import make_projector  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/
from toyrun import make_toy_run, toy_categories  # noqa: E402

REFERENCE = "0faaeaf"
"""The last commit whose page drew with Canvas 2D (float32 layouts, at most 20,000 words and 250,000 cells)."""
MAX_PAINT_S, MIN_FPS = 3.0, 30.0
REPO = Path(__file__).resolve().parents[1]


BARE = """<!DOCTYPE html><html><body style="margin:0"><canvas id="c" style="width:950px;height:572px"></canvas><script>
const n = BARE_N, c = document.getElementById("c"); c.width = 950; c.height = 572;
const gl = c.getContext("webgl2", { alpha: false, depth: false, stencil: false, antialias: false });
const VS = `#version 300 es
layout(location = 0) in vec2 q; uniform float t;
void main() { gl_Position = vec4(q * 1.8 - 0.9 + vec2(t, 0.0), 0.0, 1.0); gl_PointSize = 3.0; }`;
const FS = `#version 300 es
precision mediump float; out vec4 o; void main() { o = vec4(0.2, 0.3, 0.6, 1.0); }`;
const p = gl.createProgram();
for (const [type, src] of [[gl.VERTEX_SHADER, VS], [gl.FRAGMENT_SHADER, FS]]) {
  const sh = gl.createShader(type); gl.shaderSource(sh, src); gl.compileShader(sh); gl.attachShader(p, sh);
}
gl.linkProgram(p); gl.useProgram(p);
const q = new Uint16Array(2 * n).map(() => Math.random() * 65535), t = gl.getUniformLocation(p, "t");
gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer()); gl.bufferData(gl.ARRAY_BUFFER, q, gl.STATIC_DRAW);
gl.enableVertexAttribArray(0); gl.vertexAttribPointer(0, 2, gl.UNSIGNED_SHORT, true, 0, 0);
let k = 0, painted = null;
function draw() {
  const start = performance.now();
  gl.clearColor(1, 1, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT); gl.uniform1f(t, (k++ % 10) * 0.001); gl.drawArrays(gl.POINTS, 0, n);
  return performance.now() - start;
}
draw(); requestAnimationFrame(() => { painted = performance.now(); });
window.embviz = { firstPaint: () => painted, drawnPoints: () => n, scrub: (frames) => new Promise((done) => {
  let i = 0, start = null, ms = 0;
  const step = (now) => {
    if (start === null) start = now;
    if (i === frames) { done({ frames, fps: 1000 * frames / (now - start), drawMs: ms / frames }); return; }
    ms += draw(); i++; requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}) };
</script></body></html>
"""
"""The bare-minimum WebGL2 page of BARE_N points: what the browser's GL costs before any of the explorer's work."""


def drift(n: int, t_count: int, seed: int = 0) -> tuple[np.ndarray, list[str | None]]:
    """Layouts [T, n, 2] going from noise to one cluster per toy category (uncategorised words stay spread)."""
    rng = np.random.default_rng(seed)
    labels = toy_categories(n)
    leaves = sorted({lab for lab in labels if lab})
    code = np.array([leaves.index(lab) if lab else -1 for lab in labels])
    centres = rng.normal(size=(len(leaves), 2)) * 4
    target = np.where(code[:, None] >= 0, centres[np.maximum(code, 0)], rng.normal(size=(n, 2)) * 4)
    noise = rng.normal(size=(n, 2)) * 3
    s = np.linspace(0, 1, t_count)[:, None, None]
    return (noise * (1 - 0.9 * s) + target * s + 0.02 * rng.normal(size=(t_count, n, 2))).astype(np.float32), labels


def page_at(template: dict, n: int, t_count: int, labels: list[str | None]) -> dict:
    """``template`` (a real page's data with ``t_count`` snapshots) widened to ``n`` words, served (no neighbours)."""
    positions, _ = drift(n, t_count)
    q, bounds = quantise(positions)
    data = {key: value for key, value in template.items() if not key.startswith("nbr")}
    data.update(n=n, title=f"synthetic drift · {n:,} words × {t_count} snapshots", words=[f"w{i}" for i in range(n)], counts=[n - i for i in range(n)], paths=labels,
                positions=_b64(q, "u2"), bounds=bounds.tolist(), serve=True)
    for depth, level in enumerate(data["levels"], start=1):
        names = {c: i for i, c in enumerate(sorted({"/".join(lab.split("/")[:depth]) for lab in labels if lab}))}
        level["codes"] = [names["/".join(lab.split("/")[:depth])] if lab else -1 for lab in labels]
        level["categories"] = list(names)
        level["colours"] = ["#%02x%02x%02x" % tuple(int(v) for v in np.random.default_rng(i).integers(30, 200, 3))
                            for i in names.values()]
    return data


def reference_page(template: dict, n: int, t_count: int, labels: list[str | None]) -> str | None:
    """The REFERENCE page (Canvas 2D, float32 layouts, uint16/float32 neighbours) for n × t_count; None without git."""
    try:
        files = {name: subprocess.run(["git", "-C", str(REPO), "show", f"{REFERENCE}:embviz/film/web/{name}"],
                                      check=True, capture_output=True, text=True).stdout
                 for name in ("explorer.html", "explorer.js", "explorer.css")}
    except (OSError, subprocess.CalledProcessError):
        return None
    import base64
    import hashlib

    data = page_at(template, n, t_count, labels)
    positions, _ = drift(n, t_count)
    rng = np.random.default_rng(1)
    data.pop("serve"), data.pop("bounds")
    data.update(k=10, positions=_b64(positions, "f4"), nbrIndex=_b64(rng.integers(0, n, (t_count, n, 10)), "u2"),
                nbrCos=_b64(rng.random((t_count, n, 10)), "f4"))
    digest = base64.b64encode(hashlib.sha256(files["explorer.js"].encode()).digest()).decode()
    html = files["explorer.html"]
    for key, value in {"/*EMBVIZ_STYLE*/": files["explorer.css"], "EMBVIZ_SCRIPT_HASH": f"sha256-{digest}",
                       "/*EMBVIZ_SCRIPT*/": files["explorer.js"], "EMBVIZ_DATA": script_json(data)}.items():
        html = html.replace(key, value, 1)
    return html


def in_browser(page: Path, frames: int, probe_labels: bool) -> dict:
    """First paint (s since navigation), the page's scrubbing measurement, and (this page) search and labels."""
    profile = tempfile.mkdtemp(prefix="embviz-bench-chromium-")
    driver = chromium(profile)
    try:
        driver.set_script_timeout(300)
        driver.get(page.resolve().as_uri())
        for _ in range(1200):
            paint = driver.execute_script("return window.embviz ? embviz.firstPaint() : null")
            if paint:
                break
            time.sleep(0.05)
        out = {"paint": paint / 1000, "drawn": driver.execute_script("return embviz.drawnPoints()")}
        out.update(driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; embviz.scrub(arguments[0]).then(done);", frames))
        if probe_labels:
            out["search_ms"], out["found"] = driver.execute_script(
                "const s = document.getElementById('search'), w = embviz.words()[embviz.n - 1], t0 = performance.now();"
                "s.value = w.slice(0, -1); s.dispatchEvent(new Event('input')); s.value = w;"
                "s.dispatchEvent(new Event('change')); return [performance.now() - t0, embviz.selected() === embviz.n - 1];")
            out["labels"] = len(driver.execute_script("return embviz.labels()"))
        return out
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def page_part(smoke: bool) -> None:
    big_n, big_t, ref_n, ref_t = (3_000, 20, 2_000, 12) if smoke else (50_304, 154, 20_000, 12)
    frames = 30 if smoke else 150
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pages = {}
        for t_count in sorted({big_t, ref_t}):
            run = make_toy_run(root / f"run{t_count}", n_words=60, n_snapshots=t_count, dim=8)
            page = explore(run.path, root / f"toy{t_count}.html", AnimateOptions(method="pca", cache=False))
            html = page.path.read_text(encoding="utf-8")
            pages[t_count] = json.loads(re.search(r'id="embviz-data">(.*?)</script>', html, re.S).group(1))
        rows = []
        for name, n, t_count in (("reference (Canvas 2D, f32)", ref_n, ref_t), ("this page (WebGL, u16)", ref_n, ref_t),
                                 ("bare WebGL2 points", big_n, 1), ("this page (WebGL, u16)", big_n, big_t)):
            labels = toy_categories(n)
            html = (reference_page(pages[t_count], n, t_count, labels) if name.startswith("reference")
                    else BARE.replace("BARE_N", str(n), 1) if name.startswith("bare")
                    else render_page(page_at(pages[t_count], n, t_count, labels)))
            if html is None:
                print(f"{name}: no git checkout with {REFERENCE}, not measured")
                continue
            path = root / "page.html"
            path.write_text(html, encoding="utf-8")
            got = in_browser(path, frames, probe_labels=name.startswith("this"))
            rows.append((name, n, t_count, path.stat().st_size / 1e6, got))
        print(f"\n{'page':28s} {'words × snapshots':>19s} {'MB':>7s} {'first paint':>12s} {'frames/s':>9s} {'draw ms':>8s}")
        for name, n, t_count, mb, got in rows:
            print(f"{name:28s} {n:>10,} × {t_count:<6d} {mb:7.1f} {got['paint']:10.2f} s {got['fps']:9.1f} "
                  f"{got['drawMs']:8.2f}   drew {got['drawn']:,}")
        if len(rows) == 4:
            ref, same = rows[0][4], rows[1][4]
            print(f"\nratio at {ref_n:,} × {ref_t}: first paint {ref['paint'] / same['paint']:.2f}× faster, "
                  f"scrubbing {same['fps'] / ref['fps']:.2f}× the frames/s, drawing {ref['drawMs'] / same['drawMs']:.1f}× "
                  "faster a frame")
        big = rows[-1][4]
        ok = big["paint"] <= MAX_PAINT_S and big["fps"] >= MIN_FPS
        print(f"at {big_n:,} × {big_t}: first paint {big['paint']:.2f} s (floor ≤ {MAX_PAINT_S:g} s), "
              f"{big['fps']:.1f} frames/s (floor ≥ {MIN_FPS:g}): {'met' if ok else 'NOT MET'}; "
              f"{big['fps'] / rows[-2][4]['fps']:.2f}× the bare page's frames/s; "
              f"search of the last word {big['search_ms']:.1f} ms (found: {big['found']}); {big['labels']} labels")


def opened(page: Path) -> float | None:
    """First paint (s) of ``page`` in chromium, or None where its script never made ``window.embviz``."""
    profile = tempfile.mkdtemp(prefix="embviz-bench-chromium-")
    driver = chromium(profile)
    try:
        driver.set_page_load_timeout(600)
        driver.get(page.resolve().as_uri())  # returns once the document is loaded and its script has run
        for _ in range(600):
            paint = driver.execute_script("return window.embviz ? embviz.firstPaint() : false")
            if paint is None:  # the hook exists, the first frame is still to come
                time.sleep(0.05)
                continue
            return paint / 1000 if paint else None
        return None
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sizes_part(smoke: bool) -> None:
    n, t_count, repeats = (3_000, 20, (1, 2)) if smoke else (50_304, 154, (1, 2, 4, 8, 12, 13, 14))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = make_toy_run(root / "run", n_words=60, n_snapshots=t_count, dim=8)
        page = explore(run.path, root / "toy.html", AnimateOptions(method="pca", cache=False))
        template = json.loads(re.search(r'id="embviz-data">(.*?)</script>', page.path.read_text(encoding="utf-8"), re.S).group(1))
        base = page_at(template, n, t_count, toy_categories(n))
        assert (n * t_count * 4) % 3 == 0  # whole base64 groups: the repeated text decodes to the repeated bytes
        print(f"\npages of {n:,} words × {t_count} snapshots × k (the data repeated), opened in chromium (MAX_PAGE_BYTES "
              f"{MAX_PAGE_BYTES / 1e6:,.0f} MB):")
        for k in repeats:
            data = dict(base, positions=base["positions"] * k, steps=list(range(k * t_count)),
                        curves={name: values * k for name, values in base["curves"].items()},
                        **{key: base[key] * k for key in ("bounds", "epochs", "trainLoss", "valLoss", "loss")})
            path = root / "page.html"
            path.write_text(render_page(data), encoding="utf-8")
            del data
            paint = opened(path)
            print(f"  k {k:2d}: {k * t_count:5,} snapshots {path.stat().st_size / 1e6:7.1f} MB  "
                  + (f"first paint {paint:6.2f} s" if paint is not None else "does not open (no window.embviz)"))


def layout_part(smoke: bool) -> None:
    n, d, few = (500, 16, (2, 3)) if smoke else (50_304, 768, (2, 3))
    tsne_n = 1_000  # t-SNE is measured on fewer words, and not in a smoke run
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, d)).astype(np.float32)
    labels = rng.integers(0, 20, n)

    def matrices(count: int, rows: int) -> list[np.ndarray]:
        return [(rng.normal(size=(rows, d)).astype(np.float32) + (i + 1) / count * centres[labels[:rows]]) for i in range(count)]

    make_projector("umap").fit(matrices(2, 100))  # numba compiles once per environment: not counted
    print(f"\nlayouts of {n:,} × {d} matrices (t-SNE: {tsne_n:,} words), extrapolated to 154 snapshots:")
    for method, rows in (("pca", n), ("umap", n)) + ((("tsne", tsne_n),) if not smoke else ()):
        times = []
        for count in few:
            mats = matrices(count, rows)
            start = time.perf_counter()
            make_projector(method).fit(mats)
            times.append(time.perf_counter() - start)
            del mats
        per = max(times[1] - times[0], 0.0)
        fixed = times[0] - 2 * per
        total = fixed + 154 * per
        note = ""
        if rows < n:  # Barnes-Hut t-SNE: n log n per frame
            scale = n * math.log(n) / (rows * math.log(rows))
            total *= scale
            note = f", × {scale:.1f} for {n:,} words (n log n)"
        print(f"  {method:5s} {few[0]} snapshots {times[0]:7.1f} s, {few[1]} snapshots {times[1]:7.1f} s: "
              f"{per:6.1f} s a snapshot → 154 snapshots ≈ {total / 60:7.1f} min{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes: 3,000 × 20 (reference 2,000 × 12), layouts of 500 × 16")
    parser.add_argument("--part", choices=("page", "sizes", "layouts", "all"), default="all")
    args = parser.parse_args()
    print(f"matmul peak (fp32, 1024², this process): {matmul_peak() / 1e9:.1f} GFLOP/s")
    if args.part in ("page", "sizes", "all"):
        if not Path("/usr/bin/chromium").exists():
            print("no /usr/bin/chromium: the page is not measured (apt-get install chromium chromium-driver)")
        else:
            if args.part in ("page", "all"):
                page_part(args.smoke)
            if args.part in ("sizes", "all"):
                sizes_part(args.smoke)
    if args.part in ("layouts", "all"):
        layout_part(args.smoke)


if __name__ == "__main__":
    main()
