"""The probe set of a run: the occurrences of words in the validation text whose contextual vectors are saved.

``probe/occurrences.tsv`` lists them, one row per occurrence, in the row order of every
``probe/step-NNNNNNNN.npy`` ``[occurrences, layers + 1, d]``: the token id and word, the sentence
number in the validation text, the window (of ``context`` tokens, from the validation text's start)
and the position inside it that the model saw, the word's category path and, where the corpus knows
it, the sense of this occurrence (a homonym's category path in this sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import RunError
from embviz.rundir.files import tsv_escape, tsv_unescape, write_text

COLUMNS = ("token_id", "word", "sentence", "window", "position", "category", "sense")


@dataclass(frozen=True)
class Occurrences:
    """``n`` occurrences: ``token_ids``, ``sentences``, ``windows``, ``positions`` int64 [n]; ``words``,
    ``categories`` and ``senses`` (None where unknown) lists of n."""

    token_ids: np.ndarray
    words: list[str]
    sentences: np.ndarray
    windows: np.ndarray
    positions: np.ndarray
    categories: list[str | None]
    senses: list[str | None]

    def __len__(self) -> int:
        return len(self.words)

    @property
    def labels(self) -> list[str | None]:
        """Each occurrence's category: its sense where known, else its word's category."""
        return [s or c for s, c in zip(self.senses, self.categories)]

    def probed(self) -> np.ndarray:
        """The token ids of the probed words [m], in order of first occurrence."""
        return np.array(list(dict.fromkeys(self.token_ids.tolist())), dtype=np.int64)

    def homonyms(self) -> list[str]:
        """The words whose occurrences have two or more senses, in order of first occurrence."""
        senses: dict[str, set[str]] = {}
        for word, sense in zip(self.words, self.senses):
            if sense:
                senses.setdefault(word, set()).add(sense)
        return [w for w, s in senses.items() if len(s) > 1]

    def write(self, path: Path) -> None:
        lines = ["\t".join(COLUMNS)]
        for i in range(len(self)):
            lines.append("\t".join([str(self.token_ids[i]), tsv_escape(self.words[i]), str(self.sentences[i]),
                                    str(self.windows[i]), str(self.positions[i]), self.categories[i] or "",
                                    self.senses[i] or ""]))
        write_text(path, "\n".join(lines) + "\n")

    @classmethod
    def read(cls, path: Path) -> "Occurrences":
        """The probe set at ``path``; a malformed file is one RunError."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise RunError(f"{path} is missing") from None
        except (OSError, UnicodeDecodeError) as e:
            raise RunError(f"cannot read {path}: {e}") from None
        if not lines or tuple(lines[0].split("\t")) != COLUMNS:
            raise RunError(f"{path}: expected the header {' '.join(COLUMNS)}")
        rows = [line.split("\t") for line in lines[1:]]
        try:
            if any(len(r) != len(COLUMNS) for r in rows):
                raise ValueError
            ints = np.array([[int(r[i]) for i in (0, 2, 3, 4)] for r in rows], dtype=np.int64).reshape(-1, 4)
        except ValueError:
            raise RunError(f"{path}: every row needs {len(COLUMNS)} columns, with integer ids and positions") from None
        return cls(ints[:, 0], [tsv_unescape(r[1]) for r in rows], ints[:, 1], ints[:, 2], ints[:, 3],
                   [r[5] or None for r in rows], [r[6] or None for r in rows])
