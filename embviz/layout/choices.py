"""The projection choices (method, PCA alignment, UMAP mode, metric) and their defaults, written once.

Imports nothing heavy: the command line reads these to show them in ``--help``.
"""

from __future__ import annotations

from embviz.errors import ConfigError

METHODS = ("pca", "umap", "tsne")
PCA_ALIGN = ("final", "chain", "none")
UMAP_MODES = ("chain", "aligned")
METRICS = ("cosine", "euclidean")

DEFAULT_METHOD = "umap"
"""UMAP keeps the neighbourhoods the space holds; PCA keeps the large distances and merges the rest. At the
final snapshot of the demo run (field purity@10 0.78 in the space) the UMAP chain keeps 0.74 in 2-D
(trustworthiness 0.980), PCA 0.31 (0.871); on Lee (0.27) 0.23 (0.781) against 0.11 (0.659)
(benchmarks/bench_faithful.py, docs/animate.md)."""
DEFAULT_UMAP_MODE = "chain"
"""Warm-started UMAP chain with a joint refinement: 16.8x faster than AlignedUMAP on 20 snapshots x
2,000 words and steadier between frames, at the same trustworthiness (benchmarks/bench_umap.py,
docs/animate.md)."""


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed`` (``what`` names it in the message)."""
    if value not in allowed:
        raise ConfigError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
