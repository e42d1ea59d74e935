"""The options several commands share, declared once as ``Annotated`` types (Typer's way to reuse a
parameter); each command gives the default, read from its library options.

``Quiet`` is every command's; the word-selection and projection options are those of ``animate`` and
``explore`` (a film and an explorer of one run show the same words in the same layout); the neighbour words
those of ``compare-word2vec`` and ``compare``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out (the default outputs inside "
                                                             "the run directory are regenerated without it).")]

# Which table of each snapshot: animate, explore and export.
Matrix = Annotated[str, typer.Option(help="Which table of the snapshots: token (the input embedding), position (the "
                                          "learned positions 0..context-1) or head (an untied output head).")]

# Which words: every categorised word and the most frequent, plus or only the words named.
Words = Annotated[Optional[str], typer.Option(help="Comma-separated words to add to the words shown (or, with --only, "
                                                   "to show alone).")]
WordsFile = Annotated[Optional[Path], typer.Option(help="A file of words to add (or show alone with --only).")]
Only = Annotated[bool, typer.Option("--only", help="Show only --words / --words-file.")]
Top = Annotated[int, typer.Option(help="Also show the N most frequent tokens (besides every categorised word).")]
ContentOnly = Annotated[bool, typer.Option("--content-only", help="Leave out punctuation and function words.")]
Level = Annotated[Optional[str], typer.Option(help="Category level to colour by: pos, field or subfield [default: the "
                                                   "middle level].")]

# Words looked up in both spaces of a comparison (compare-word2vec, compare).
NeighbourWords = Annotated[Optional[str], typer.Option("--words", help="Comma-separated words: show their nearest "
                                                                       "neighbours in both spaces.")]
Neighbours = Annotated[int, typer.Option(help="Neighbours listed per --words entry.")]

# How they are laid out in 2-D.
Method = Annotated[str, typer.Option(help="pca, umap or tsne.")]
Align = Annotated[str, typer.Option(help="PCA alignment: final (one basis from the final snapshot), chain (Procrustes "
                                         "onto the neighbouring frame) or none.")]
UmapMode = Annotated[str, typer.Option(help="UMAP: chain (each frame warm-started from the previous one, then all "
                                            "refined together) or aligned (umap-learn's AlignedUMAP, much slower).")]
Metric = Annotated[str, typer.Option(help="cosine or euclidean.")]
Cache = Annotated[bool, typer.Option(help="Reuse cached projections and metrics from <run>/projections.")]
Seed = Annotated[int, typer.Option(help="Random seed of UMAP / t-SNE.")]

# The contextual probe of train.
Probe = Annotated[bool, typer.Option("--probe/--no-probe", help="Save the hidden states of a fixed set of validation "
                                                                "occurrences at every snapshot (animate --matrix "
                                                                "layer:N).")]
ProbeWords = Annotated[Optional[str], typer.Option(help="Comma-separated words the probe follows [default: the most "
                                                        "frequent categorised words and every homonym].")]

# Serving on 127.0.0.1 (explore --serve, train --live, watch).
Port = Annotated[Optional[int], typer.Option(help="Port on 127.0.0.1 to serve on [default: a free one].")]
