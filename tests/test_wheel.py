"""The wheel, as a new user gets it: built from the sources, installed into a fresh virtual environment,
it trains and explores from a folder outside the checkout, so its package data (the lexicons under
``embviz/text/data``, the page under ``embviz/film/web``, the live map's view under ``embviz/notebook``) ships.

The fresh environment takes the dependencies from this one (a ``.pth`` file naming its
site-packages) and embviz from the wheel alone; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import tiny_args

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path, env: dict) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installs_trains_and_explores_outside_the_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # Build from a copy of the sources, so the checkout gets no build/ or egg-info.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "embviz", source / "embviz", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w",
                            str(dist), str(source)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0 and "SetuptoolsDeprecationWarning" not in built.stdout + built.stderr, built.stdout
    (wheel,) = dist.glob("embviz-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "License-Expression: MIT" in archive.read("embviz-0.1.0.dist-info/METADATA").decode()

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path, env=env).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel,
        cwd=tmp_path, env=env)

    user = tmp_path / "user"
    user.mkdir()
    where = Path(run(python, "-c", "import embviz; print(embviz.__file__)", cwd=user, env=env).strip())
    assert where.is_relative_to(site) and not where.is_relative_to(ROOT), where
    embviz = venv / "bin" / "embviz"
    run(embviz, "train", "synthetic", "--out", "run", "--synthetic-tokens", "4000", *tiny_args(epochs=1), "-q",
        cwd=user, env=env)
    assert (user / "run" / "run.json").is_file() and any((user / "run" / "snapshots").iterdir())
    categories = [line.split("\t")[3] for line in (user / "run" / "vocab.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert sum(bool(c) for c in categories) > 10  # the synthetic words found in the lexicon that ships
    run(embviz, "explore", "run", "--method", "pca", "-q", cwd=user, env=env)
    page = (user / "run" / "explorer.html").read_text(encoding="utf-8")
    assert "<canvas" in page and len(page) > 10_000
    widget = run(python, "-c", "import embviz; print(len(embviz.LiveMap._esm), len(embviz.LiveMap._css))", cwd=user, env=env)
    assert all(int(n) > 100 for n in widget.split())  # the live map's view ships too
