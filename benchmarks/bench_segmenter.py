"""Chinese word segmentation against the People's Daily gold: jieba (what ``--tokenizer word`` uses)
vs references, on the same held-out lines, side by side.

Word F1 counts a word as right when its start and end match a gold word. References: one word per
character (the floor), and spacy-pkuseg when it is importable and given a model (``--pkuseg-model``:
spacy-pkuseg ships no model and downloads one on first use, so offline it needs one trained here,
e.g. ``spacy_pkuseg.train`` on the gold lines before the test slice). Also the size on disk of each
installed package.

    python benchmarks/bench_segmenter.py [--tokens 50000] [--pkuseg-model DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

from embviz.text import chinese


def spans(words: list[str]) -> set[tuple[int, int]]:
    out, at = set(), 0
    for w in words:
        out.add((at, at + len(w)))
        at += len(w)
    return out


def score(gold: list[list[str]], guess: list[list[str]]) -> tuple[float, float, float]:
    """Word precision, recall and F1 of ``guess`` against ``gold``, line by line."""
    right = n_gold = n_guess = 0
    for g, p in zip(gold, guess):
        assert "".join(g) == "".join(p), "a segmenter changed the text"
        gs, ps = spans(g), spans(p)
        right += len(gs & ps)
        n_gold += len(gs)
        n_guess += len(ps)
    precision, recall = right / n_guess, right / n_gold
    return precision, recall, 2 * precision * recall / (precision + recall)


def package_mb(name: str) -> float | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50_000, help="Gold words in the test slice (the corpus's last lines).")
    parser.add_argument("--pkuseg-model", type=Path, help="A spacy-pkuseg model directory to compare with.")
    parser.add_argument("--smoke", action="store_true", help="A 2,000-word slice, to check the script runs.")
    args = parser.parse_args()
    n_tokens = 2_000 if args.smoke else args.tokens

    words, _ = chinese.parse_gold(chinese.gold_path().read_text(encoding="utf-8"))
    test, count = [], 0
    for line in reversed(words):
        test.append(line)
        count += len(line)
        if count >= n_tokens:
            break
    test.reverse()
    raw = ["".join(line) for line in test]
    chars = sum(map(len, raw))
    print(f"test slice: the last {len(test):,} lines of peoples-daily, {count:,} gold words, {chars:,} characters")

    chinese.segment("预热")  # load jieba's dictionary outside the timing
    segmenters = {"jieba": chinese.segment, "one word per character": list}
    if args.pkuseg_model is not None:
        import spacy_pkuseg

        model = spacy_pkuseg.pkuseg(model_name=str(args.pkuseg_model))
        segmenters["spacy-pkuseg (trained on the gold)"] = model.cut
    results = {}
    for name, cut in segmenters.items():
        start = time.perf_counter()
        guess = [cut(line) for line in raw]
        seconds = time.perf_counter() - start
        results[name] = (*score(test, guess), chars / seconds)
    print(f"{'segmenter':36s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'chars/s':>12s}")
    for name, (p, r, f, speed) in results.items():
        print(f"{name:36s} {p:9.3f} {r:7.3f} {f:6.3f} {speed:12,.0f}")
    ours = results["jieba"]
    for name, (_, _, f, speed) in results.items():
        if name != "jieba":
            ratio = f", speed ×{ours[3] / speed:.2f}" if "pkuseg" in name else ""
            print(f"jieba vs {name}: F1 {ours[2] - f:+.3f}{ratio}")
    for package in ("jieba", "spacy_pkuseg", "snownlp"):
        size = package_mb(package)
        print(f"installed size of {package}: " + (f"{size:.1f} MB" if size is not None else "not installed"))


if __name__ == "__main__":
    main()
