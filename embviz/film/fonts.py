"""Fonts that draw every token as glyphs: DejaVu Sans first, then a font covering what it lacks.

Coverage is decided from each font file's character map (read with fontTools), not guessed from
Unicode ranges.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import matplotlib
from fontTools.ttLib import TTFont, TTLibError
from matplotlib import font_manager, ft2font

from embviz.errors import EmbvizError

BASE_FAMILY = "DejaVu Sans"
CJK_PROBE = "中"
# Families known to cover CJK, tried first; other names that hint at CJK are tried after them.
_KNOWN_CJK = re.compile(r"wqy|wenquanyi|noto\w*cjk|droidsansfallback|uming|ukai|arphic", re.I)
_MAYBE_CJK = re.compile(r"cjk|sourcehan|han|hei|song|ming|kai|gothic|mincho|fallback|unifont", re.I)


class FontError(EmbvizError):
    """A font file that is missing or cannot be read as a font."""


@functools.lru_cache(maxsize=None)
def _codepoints(path: str) -> frozenset[int]:
    """Code points covered by the first face of the font file at ``path``."""
    with TTFont(path, fontNumber=0, lazy=True) as font:
        return frozenset(font.getBestCmap() or ())


def _covers(path: str, chars: str) -> bool:
    try:
        cmap = _codepoints(path)
    except (OSError, TTLibError, KeyError, AssertionError):
        return False
    return all(ord(c) in cmap for c in chars)


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> Path | None:
    """Path of an installed font whose character map covers CJK ideographs, or None."""
    files = set(font_manager.findSystemFonts())
    files |= {entry.fname for entry in font_manager.fontManager.ttflist}
    known = sorted(f for f in files if _KNOWN_CJK.search(Path(f).name))
    maybe = sorted(f for f in files if f not in known and _MAYBE_CJK.search(Path(f).name))
    for path in known + maybe:
        if _covers(path, CJK_PROBE):
            return Path(path)
    return None


def _base_codepoints() -> frozenset[int]:
    return _codepoints(font_manager.findfont(BASE_FAMILY, fallback_to_default=False))


def _add_font(path: Path) -> str:
    """Register the font file with matplotlib and return its family name."""
    try:
        family = ft2font.FT2Font(str(path)).family_name
        if all(entry.fname != str(path) for entry in font_manager.fontManager.ttflist):
            font_manager.fontManager.addfont(str(path))
    except (OSError, RuntimeError, ValueError) as err:
        raise FontError(f"{path} is not a readable font file ({err})") from None
    return family


def font_families(words: list[str], font: Path | None = None) -> tuple[list[str], list[str]]:
    """Font family fallback list able to draw ``words``, and warnings for characters it cannot.

    ``font`` is a font file to use after DejaVu Sans; without it a CJK font is looked for only
    when some characters are missing from DejaVu Sans. Raises FontError for an unusable ``font``.
    """
    if font is not None:
        font = Path(font)
        if not font.is_file():
            raise FontError(f"font file {font} does not exist")
    base = _base_codepoints()
    missing = "".join(sorted({c for w in words for c in w if not c.isspace() and ord(c) not in base}))
    families = [BASE_FAMILY]
    extra = font if font is not None else (find_cjk_font() if missing else None)
    if extra is not None:
        families.append(_add_font(extra))
        missing = "".join(c for c in missing if not _covers(str(extra), c))
    if not missing:
        return families, []
    example = missing[:8]
    if extra is None:
        return families, [
            f"{len(missing)} characters in the labels (e.g. {example}) are missing from "
            f"{BASE_FAMILY} and no CJK font was found, so they draw as boxes; "
            "pass --font PATH or install fonts-wqy-microhei"
        ]
    return families, [
        f"{len(missing)} characters in the labels (e.g. {example}) are missing from both "
        f"{BASE_FAMILY} and {extra.name}, so they draw as boxes; pass --font PATH with a font that has them"
    ]


def configure_fonts(words: list[str], font: Path | None = None) -> list[str]:
    """Set matplotlib's ``font.family`` to a fallback list that draws ``words``; return warnings."""
    families, warnings = font_families(words, font)
    matplotlib.rcParams["font.family"] = families
    return warnings
