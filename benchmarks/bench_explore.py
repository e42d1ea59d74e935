"""``embviz explore``: page size, first paint and scrubbing speed in headless Chromium, and write time vs animate.

1. 2,000 words × 50 snapshots (toy run, d 64, neighbours included): the page's size, its first paint
   and slider-scrubbing frames/s measured in the page (``window.embviz``) in Debian's headless
   chromium. Floors: ≤ 15 MB, ≤ 2 s, ≥ 30 frames/s.
2. The same run: ``explore --method pca`` vs ``animate --method pca`` (film, grid, curves), both
   uncached, side by side in this process (the projection is the same work for both). Floor: explore no slower.
3. 30,000 words × 100 snapshots (a page of ~176 MB with its neighbours): explore refuses before loading
   anything, names ``--serve`` (the page without neighbours would fit) and says how to narrow the words.

    python benchmarks/bench_explore.py [--smoke] [--run runs/demo]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_emergence import matmul_peak  # noqa: E402

from embviz.errors import ConfigError  # noqa: E402
from embviz.film.animate import animate  # noqa: E402
from embviz.film.animate_options import AnimateOptions, FilmOptions  # noqa: E402
from embviz.film.explore import explore  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/
from toyrun import make_toy_run  # noqa: E402

MAX_MB, MAX_PAINT_S, MIN_FPS = 15.0, 2.0, 30.0


def chromium(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,800",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def in_browser(page: Path, profile: str, frames: int) -> tuple[float, dict]:
    """First paint (s since navigation) and the page's own scrubbing measurement over ``frames`` frames."""
    driver = chromium(profile)
    try:
        driver.set_script_timeout(120)
        driver.get(page.resolve().as_uri())
        for _ in range(600):
            paint = driver.execute_script("return window.embviz ? embviz.firstPaint() : null")
            if paint:
                break
            time.sleep(0.05)
        scrub = driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; embviz.scrub(arguments[0]).then(done);", frames)
        return paint / 1000, scrub
    finally:
        driver.quit()


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes: 60 words × 6 snapshots (a 5 fps film)")
    parser.add_argument("--run", type=Path, help="time explore vs animate on this run (default words) instead of a toy run")
    args = parser.parse_args()
    words, snaps = (60, 6) if args.smoke else (2_000, 50)
    big_words, big_snaps = 30_000, 100
    looks = FilmOptions(fps=5) if args.smoke else FilmOptions()
    peak = matmul_peak()
    print(f"matmul peak (fp32, 1024², this process): {peak / 1e9:.1f} GFLOP/s")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.run:
            run_dir, chosen = args.run, AnimateOptions(method="pca", cache=False)
        else:
            run_dir = make_toy_run(root / "run", n_words=words, n_snapshots=snaps, dim=64).path
            chosen = AnimateOptions(words=tuple(f"w{i}" for i in range(words)), only=True, method="pca", cache=False)
        start = time.perf_counter()
        result = explore(run_dir, root / "explorer.html", chosen)
        explore_s = time.perf_counter() - start
        start = time.perf_counter()
        film = animate(run_dir, root / "film.mp4", replace(chosen, film=looks))
        animate_s = time.perf_counter() - start
        mb = result.size_bytes / 1e6
        print(f"\n{run_dir.name if args.run else 'toy run, d 64'}: {result.n_words:,} words × {result.n_snapshots} "
              f"snapshots ({result.n_words * result.n_snapshots * 10:,} neighbours)")
        print(f"  page size            {mb:8.2f} MB   (floor ≤ {MAX_MB:g} MB: {verdict(mb <= MAX_MB)})")
        print(f"  explore write        {explore_s:8.2f} s")
        print(f"  animate --method pca {animate_s:8.2f} s   ({film.n_frames} frames + grid + curves)")
        print(f"  ratio animate/explore {animate_s / explore_s:7.2f}×  (floor ≥ 1: {verdict(explore_s <= animate_s)})")
        if Path("/usr/bin/chromium").exists():
            profile = tempfile.mkdtemp(prefix="embviz-bench-chromium-")
            try:
                paint, scrub = in_browser(result.path, profile, frames=60 if args.smoke else 300)
            finally:
                shutil.rmtree(profile, ignore_errors=True)
            print(f"  first paint          {paint:8.2f} s   (floor ≤ {MAX_PAINT_S:g} s: {verdict(paint <= MAX_PAINT_S)})")
            print(f"  scrubbing            {scrub['fps']:8.1f} frames/s over {scrub['frames']} slider moves; "
                  f"{scrub['drawMs']:.2f} ms of drawing a frame   (floor ≥ {MIN_FPS:g}: {verdict(scrub['fps'] >= MIN_FPS)})")
        else:
            print("  no /usr/bin/chromium: first paint and scrubbing not measured (apt-get install chromium chromium-driver)")

        big = make_toy_run(root / "big", n_words=big_words, n_snapshots=big_snaps, dim=2)
        start = time.perf_counter()
        try:
            explore(big.path, root / "big.html", AnimateOptions(words=tuple(f"w{i}" for i in range(big_words)), only=True))
            print(f"\n{big_words:,} words × {big_snaps} snapshots: written (unexpected)")
        except ConfigError as e:
            print(f"\n{big_words:,} words × {big_snaps} snapshots: refused in {time.perf_counter() - start:.2f} s, "
                  f"nothing written:\n  Error: {e}")


if __name__ == "__main__":
    main()
