"""Which revisions of a Hub repository to import: ``hf:OWNER/NAME`` sources and ``--revisions`` specs.

A checkpoint series on the Hub is a set of branches named ``stepN`` (Pythia: ``step0`` … ``step143000``).
A spec picks from them:

``step0,step1000``  those revisions (any branch, tag or commit; the step is the last number in the name)
``all``             every ``stepN`` branch
``log:N``           N steps spaced evenly on a log scale from the first to the last (``log(step + 1)``)
``every:K``         the steps that are multiples of K
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from embviz.errors import ConfigError

HUB_PREFIX = "hf:"
_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_STEP_BRANCH = re.compile(r"step(\d+)")


@dataclass(frozen=True)
class Revision:
    """One checkpoint of the series: its revision name, its step, and the commit it points at (if known)."""

    name: str
    step: int
    commit: str | None = None


def hub_repo(source: str) -> str | None:
    """``OWNER/NAME`` of a ``hf:OWNER/NAME`` source, None for any other source, a ConfigError when malformed."""
    if not source.startswith(HUB_PREFIX):
        return None
    repo = source[len(HUB_PREFIX):]
    if not _REPO.fullmatch(repo) or ".." in repo:
        raise ConfigError(f"{source!r} is not a Hub repository; write hf:OWNER/NAME (e.g. hf:EleutherAI/pythia-70m)")
    return repo


def step_revisions(branches: dict[str, str]) -> list[Revision]:
    """The ``stepN`` branches of ``branches`` (name → commit) in step order."""
    found = [Revision(name, int(m.group(1)), commit) for name, commit in branches.items()
             if (m := _STEP_BRANCH.fullmatch(name))]
    return sorted(found, key=lambda r: r.step)


def step_of(name: str) -> int:
    """The step a revision name stands for: its last number (``step1000`` → 1000), or a ConfigError."""
    numbers = re.findall(r"\d+", name)
    if not numbers or re.fullmatch(r"[0-9a-f]{40}", name):
        raise ConfigError(f"cannot tell the step of revision {name!r}: it holds no number (name stepN revisions)")
    return int(numbers[-1])


def _count(spec: str, prefix: str) -> int:
    text = spec[len(prefix):]
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--revisions {spec}: {prefix} needs a positive whole number (e.g. {prefix}20)")
    return int(text)


def log_spaced(available: list[Revision], n: int) -> list[Revision]:
    """``n`` of ``available`` (in step order) nearest to ``n`` steps spaced evenly in ``log(step + 1)``,
    each taken once; the first and last always among them."""
    if n >= len(available):
        return list(available)
    logs = [math.log1p(r.step) for r in available]
    lo, hi = logs[0], logs[-1]
    chosen: set[int] = set()
    for i in range(n):
        target = lo + (hi - lo) * i / max(n - 1, 1)
        best = min((j for j in range(len(available)) if j not in chosen), key=lambda j: abs(logs[j] - target))
        chosen.add(best)
    return [available[j] for j in sorted(chosen)]


def _names(spec: str) -> list[str]:
    names = [name.strip() for name in spec.split(",")]
    if any(not name for name in names):
        raise ConfigError(f"--revisions {spec!r} has an empty name; write a comma list such as step0,step1000")
    for name in names:
        step_of(name)
    return list(dict.fromkeys(names))


def check_spec(spec: str) -> None:
    """A ConfigError for a malformed spec, before any request is made."""
    spec = spec.strip()
    for prefix in ("log:", "every:"):
        if spec.startswith(prefix):
            _count(spec, prefix)
            return
    if spec not in ("all", ""):
        _names(spec)


def pick_revisions(spec: str, available: list[Revision]) -> list[Revision]:
    """The revisions ``spec`` names, in step order; ``available`` are the ``stepN`` branches in step order.

    A comma list may name revisions outside ``available`` (their commit is then unknown: None).
    """
    check_spec(spec)
    spec = spec.strip()
    if spec in ("all", "") or spec.startswith(("log:", "every:")):
        if not available:
            raise ConfigError(f"--revisions {spec or 'all'} picks from the stepN branches, and the repository has "
                              "none; name revisions with a comma list")
    if spec in ("all", ""):
        return list(available)
    if spec.startswith("log:"):
        return log_spaced(available, _count(spec, "log:"))
    if spec.startswith("every:"):
        k = _count(spec, "every:")
        picked = [r for r in available if r.step % k == 0]
        if not picked:
            raise ConfigError(f"--revisions {spec}: no stepN branch is a multiple of {k}")
        return picked
    by_name = {r.name: r for r in available}
    picked = [by_name.get(name) or Revision(name, step_of(name)) for name in _names(spec)]
    picked.sort(key=lambda r: r.step)
    for a, b in zip(picked, picked[1:]):
        if a.step == b.step:
            raise ConfigError(f"revisions {a.name} and {b.name} both stand for step {a.step}")
    return picked
