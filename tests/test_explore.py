"""``embviz explore`` without a browser: the page's data, its escaping and its limits."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from embviz.cli import main
from embviz.film import explore as ex
from embviz.film.animate_options import AnimateOptions
from embviz.layout.projectors import PCAProjector
from embviz.measure.metrics import knn_graph, knn_purity
from embviz.rundir.run import Run

from toyrun import make_toy_run

HOSTILE = "</script><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    tokens = [HOSTILE, "a&b", "q'\"x"] + [f"w{i}" for i in range(3, 60)]
    return make_toy_run(tmp_path_factory.mktemp("explore") / "run", n_snapshots=6, tokens=tokens).path


def page_json(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="embviz-data">(.*?)</script>', html, re.S)
    assert block is not None
    return json.loads(block.group(1))


def unpack(text: str, dtype: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def test_script_json_escapes_what_could_end_the_script() -> None:
    text = ex.script_json({"t": HOSTILE + "&\u2028\u2029"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"t": HOSTILE + "&\u2028\u2029"}


def test_neighbours_equal_knn_graph() -> None:
    x = np.random.default_rng(0).normal(size=(3, 40, 8)).astype(np.float32)
    idx, cos = ex.neighbours(x)
    assert idx.shape == cos.shape == (3, 40, 10) and idx.dtype == np.uint16
    for t in range(3):
        want, dist = knn_graph(x[t], 11)
        np.testing.assert_array_equal(idx[t], want[:, 1:])
        unit = x[t] / np.linalg.norm(x[t], axis=1, keepdims=True)
        np.testing.assert_allclose(cos[t], np.take_along_axis(unit @ unit.T, want[:, 1:].astype(int), 1), atol=1e-5)


def test_page_holds_the_run(toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = ex.explore(toy, out, AnimateOptions(method="pca", cache=False))
    html = out.read_text(encoding="utf-8")
    assert result.path == out and result.size_bytes == len(html.encode()) and not result.word2vec
    assert HOSTILE not in html and "<img" not in html  # only its escaped JSON form is in the file
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    data = page_json(html)
    assert data["words"][0] == HOSTILE and data["n"] == result.n_words == len(data["words"])
    n, t = data["n"], data["T"]
    run = Run(toy)
    tokens = run.vocab()[0]
    rows = np.array([tokens.index(w) for w in data["words"]])
    mats = run.gather(rows)
    bounds = np.array(data["bounds"])  # [T, 4]: min x, max x, min y, max y
    q = unpack(data["positions"], "u2", (t, n, 2)) / 65535
    positions = np.stack([bounds[:, None, 0] + q[..., 0] * (bounds[:, None, 1] - bounds[:, None, 0]),
                          bounds[:, None, 2] + q[..., 1] * (bounds[:, None, 3] - bounds[:, None, 2])], axis=-1)
    want = PCAProjector().fit(list(mats)).embeddings_
    step = np.ptp(want, axis=1).max(axis=1)[:, None, None] / 65535  # the stated precision: half a step
    assert (np.abs(positions - want) <= step / 2 + 1e-12).all()
    assert data["nbrType"] == "u2"
    nearest, dist = knn_graph(mats[-1], 11)
    np.testing.assert_array_equal(unpack(data["nbrIndex"], "u2", (t, n, 10))[-1], nearest[:, 1:])
    cos = unpack(data["nbrCos"], "i2", (t, n, 10))[-1] / data["cosScale"]
    np.testing.assert_allclose(cos, 1 - dist[:, 1:], atol=1 / data["cosScale"])
    assert data["steps"] == [s.step for s in run.snapshots()]
    assert [lvl["name"] for lvl in data["levels"]] == ["pos", "field", "subfield"]
    assert set(data["curves"]) == {*(f"purity{where} · {lvl}" for where in ("", " in 2-D") for lvl in ("pos", "field", "subfield")),
                                   "trustworthiness of 2-D"}
    # the page's 2-D purity is the purity of the neighbours as drawn in its own final layout
    labels = [c and c.split("/")[0] for c in run.vocab()[2]]
    shown = [labels[i] for i in rows]
    assert data["curves"]["purity in 2-D · pos"][-1] == pytest.approx(knn_purity(positions[-1], shown, metric="euclidean"),
                                                                        abs=1e-5)


def test_cli_writes_the_default_file_once(toy: Path, tmp_path: Path, capsys) -> None:
    import shutil

    run = shutil.copytree(toy, tmp_path / "run")
    with pytest.raises(SystemExit) as e:
        main(["explore", str(run), "--top", "20", "--level", "pos", "--method", "pca", "-q"])
    assert e.value.code == 0 and (run / "explorer.html").is_file()
    assert page_json((run / "explorer.html").read_text())["levels"][0]["name"] == "pos"
    with pytest.raises(SystemExit) as e:
        main(["explore", str(run), "--overwrite", "--words", "w3,w4,w5", "--only", "--method", "pca"])
    assert e.value.code == 0
    assert page_json((run / "explorer.html").read_text())["words"] == ["w3", "w4", "w5"]
    assert "Explorer:" in capsys.readouterr().out


def test_too_many_words_are_refused_with_a_way_out(toy: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    n, t = len(Run(toy).vocab()[0]), len(Run(toy).snapshots())
    for limit, serve in ((ex.page_bytes(n, t, inline_neighbours=False), True), (100, False)):
        monkeypatch.setattr(ex, "MAX_PAGE_BYTES", limit)
        with pytest.raises(SystemExit) as e:
            main(["explore", str(toy), "--out", str(tmp_path / "x.html")])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 1 and err.startswith("Error:") and "--top" in err and "--only" in err
        assert ("--serve" in err) == serve  # named where the page without neighbours would fit
        assert len(err.splitlines()) == 1 and not (tmp_path / "x.html").exists()


def test_quantised_layout_keeps_its_stated_precision() -> None:
    positions = np.random.default_rng(0).normal(size=(3, 500, 2)) * [[[1.0, 1e-3]], [[50.0, 50.0]], [[1e-6, 2.0]]]
    q, bounds = ex.quantise(positions)
    assert q.dtype == np.uint16 and q.shape == positions.shape and bounds.shape == (3, 4)
    assert (q.min(axis=1) == 0).all() and (q.max(axis=1) == 65535).all()  # each snapshot's axis uses all steps
    back = np.stack([bounds[:, None, 0] + q[..., 0] / 65535 * (bounds[:, None, 1] - bounds[:, None, 0]),
                     bounds[:, None, 2] + q[..., 1] / 65535 * (bounds[:, None, 3] - bounds[:, None, 2])], axis=-1)
    extent = np.ptp(positions, axis=1)[:, None, :]
    assert (np.abs(back - positions) <= extent / 131070 * (1 + 1e-9)).all()


def test_word_indices_widen_past_uint16() -> None:
    assert ex.index_dtype(65534) == np.uint16 and ex.index_dtype(65535) == np.uint32  # 65535 is "none"
    assert ex.page_bytes(50_304, 154, inline_neighbours=False) < ex.MAX_PAGE_BYTES < ex.page_bytes(50_304, 154)
