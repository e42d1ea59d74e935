"""Check Ethayarajh (2019) on runs' contextual probes: do a word's occurrences grow less self-similar in upper
layers, is every layer anisotropic, and how much of a word's variance does one static vector explain — and, on
corpora that know senses, do a homonym's occurrences part by sense layer by layer.

    .venv/bin/python benchmarks/contextual_findings.py runs/demo runs/lee

Per run and layer (0 = token + position, N = after block N), at the first and the last snapshot: self-similarity,
intra-sentence similarity, anisotropy, MEV (the share of a word's variance in its first principal component), and
the homonyms' sense purity beside its chance level; then self-similarity less anisotropy, the paper's adjusted
self-similarity. Ethayarajh's GPT-2: adjusted self-similarity falls with depth, anisotropy is high (cosine of
random words above 0.5 in the upper layers), and under 5% of a word's variance is explained by one static vector
in every layer but the first (MEV is the share of the first component of its occurrences).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from embviz.measure import contextual
from embviz.rundir.run import Run


def row(values: dict) -> str:
    cells = [f"{values[c]:.3f}" if np.isfinite(values[c]) else "  –  " for c in contextual.COLUMNS]
    adjusted = values["self_similarity"] - values["anisotropy"]
    return " ".join(f"{c:>9}" for c in cells) + f" {adjusted:9.3f}"


def report(path: Path) -> None:
    run = Run.open(path)
    snaps = run.snapshots()
    occ = run.occurrences()
    homonyms = len({w for w, s in zip(occ.words, occ.senses) if s})
    print(f"\n{path}: {len(occ.words)} occurrences of {len(set(occ.words))} words ({homonyms} homonyms), "
          f"{len(snaps)} snapshots")
    print(f"{'step':>7} {'layer':>5} " + " ".join(f"{c[:9]:>9}" for c in contextual.COLUMNS) + f" {'adj. self':>9}")
    for snap in (snaps[0], snaps[-1]):
        vectors = np.asarray(run.load_probe(snap), dtype=np.float32)
        for layer in range(vectors.shape[1]):
            values = contextual.measure_layer(vectors[:, layer], occ.words, occ.sentences.tolist(), occ.senses)
            print(f"{snap.step:7d} {layer:5d} " + row(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    for path in parser.parse_args().runs:
        report(path)


if __name__ == "__main__":
    main()
