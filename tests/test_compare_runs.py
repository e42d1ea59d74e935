"""compare: two runs on their shared tokens, snapshot by matched snapshot — the measures' properties, the
matching of snapshots, the splits, the CLI's report and its bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ortho_group

from embviz import cli
from embviz.compare.runs import SCHEMA, RunsOptions, compare_runs, match_snapshots, open_side, sample_of, shared_tokens
from embviz.errors import RunError
from embviz.rundir.files import read_json, write_json, write_npy
from embviz.rundir.run import INDEX_JSON, RUN_JSON, Run, Snapshot, snapshot_name

from toyrun import make_toy_run


def transformed(source: Path, target: Path, change) -> Path:
    """A copy of the run ``source`` at ``target`` with every snapshot ``x`` [V, d] replaced by ``change(x)``."""
    shutil.copytree(source, target)
    run = Run(target)
    for snap in run.snapshots():
        write_npy(run.snapshot_dir / snap.file, change(run.load_snapshot(snap)).astype(np.float32))
    return target


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    """300 words x 8 snapshots x d 16, noise drifting to nested categories."""
    path = tmp_path_factory.mktemp("cmp") / "a"
    make_toy_run(path, n_words=300, n_snapshots=8, dim=16)
    return path


def measures(report) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    snaps = report.data["snapshots"]
    return (np.array([s["cka"] for s in snaps]), np.array([s["procrustes_disparity"] for s in snaps]),
            np.array([s["jaccard_mean"] for s in snaps]))


# -- measures: properties on tiny runs ------------------------------------------------------------------------


def test_a_run_against_itself_agrees_perfectly(toy_run):
    report = compare_runs(toy_run, toy_run)
    cka, disparity, jaccard = measures(report)
    assert len(cka) == 8
    np.testing.assert_allclose(cka, 1.0, atol=1e-9)
    np.testing.assert_allclose(disparity, 0.0, atol=1e-9)
    np.testing.assert_array_equal(jaccard, 1.0)


def test_agreement_is_invariant_to_rotating_and_scaling_one_run(toy_run, tmp_path):
    q = ortho_group.rvs(16, random_state=3)
    moved = transformed(toy_run, tmp_path / "moved", lambda x: 3.7 * x @ q)
    cka, disparity, jaccard = measures(compare_runs(toy_run, moved))
    np.testing.assert_allclose(cka, 1.0, atol=1e-5)
    np.testing.assert_allclose(disparity, 0.0, atol=1e-5)
    assert jaccard.min() > 0.99  # float32 ties aside, the same neighbours


def test_a_run_against_a_random_one_agrees_little(toy_run, tmp_path):
    rng = np.random.default_rng(7)
    noise = transformed(toy_run, tmp_path / "noise", lambda x: rng.normal(size=x.shape))
    cka, disparity, jaccard = measures(compare_runs(toy_run, noise))
    k, n = 10, 300
    assert cka.max() < 0.25  # about d / (n + d) = 0.05 for unrelated spaces
    assert disparity.min() > 0.7
    assert jaccard.max() < 5 * k / (2 * (n - 1) - k)  # a few times chance


def test_a_trained_run_agrees_more_with_a_second_seed_than_with_noise(toy_run, tmp_path):
    make_toy_run(tmp_path / "seed1", n_words=300, n_snapshots=8, dim=16, seed=1)
    cka, _, jaccard = measures(compare_runs(toy_run, tmp_path / "seed1"))
    # the same categories (centres differ with the seed): the final maps agree well above chance
    assert cka[-1] > 0.5 and jaccard[-1] > 0.2
    assert jaccard[-1] > 5 * jaccard[0]


def test_a_sample_measures_the_same_neighbours_of_fewer_words(toy_run, tmp_path, capsys):
    make_toy_run(tmp_path / "seed1", n_words=300, n_snapshots=8, dim=16, seed=1)
    whole = compare_runs(toy_run, tmp_path / "seed1", RunsOptions(sample=0))
    part = compare_runs(toy_run, tmp_path / "seed1", RunsOptions(sample=120))
    positions = sample_of(shared_tokens(open_side(toy_run), open_side(tmp_path / "seed1")), 120)
    assert positions.size == 120 and np.all(np.diff(positions) > 0)
    for w, p in zip(whole.agreements, part.agreements):
        assert p.cka == w.cka and p.disparity == w.disparity  # every row either way
        np.testing.assert_array_equal(p.jaccard, w.jaccard[positions])  # neighbours among all 300 words
    assert part.data["jaccard_words"] == {"n": 120, "of": 300, "sampled": True, "seed": 0}
    assert sum(g["n"] for g in part.data["split"]["frequency"]["groups"]) == 120
    assert compare_runs(toy_run, tmp_path / "seed1", RunsOptions(sample=1000)).data["jaccard_words"]["sampled"] is False
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", str(toy_run), str(tmp_path / "seed1"), "--sample", "120"])
    assert exit_info.value.code == 0
    assert "Jaccard@10 of 120 of the 300 shared tokens drawn at random" in capsys.readouterr().out


# -- matching snapshots --------------------------------------------------------------------------------------


def snaps(steps: list[int], tokens_per_step: int) -> list[Snapshot]:
    return [Snapshot(snapshot_name(s), s, s / 100, s * tokens_per_step, None, None) for s in steps]


def test_matching_by_step_tokens_and_fraction_on_different_schedules():
    a = snaps(list(range(0, 1001, 100)), 512)  # 0 … 1000, batch of 512 tokens
    b = snaps(list(range(0, 501, 50)), 1024)  # 0 … 500, twice the batch: the same tokens in half the steps
    by_step = match_snapshots(a, b, "step", 0.0)
    assert [(a[i].step, b[j].step) for i, j in by_step] == [(s, s) for s in range(0, 501, 100)]
    by_tokens = match_snapshots(a, b, "tokens", 0.0)
    assert [(a[i].tokens_seen, b[j].tokens_seen) for i, j in by_tokens] == [(t, t) for t in range(0, 512001, 51200)]
    by_fraction = match_snapshots(a, b, "fraction", 0.0)
    assert [(a[i].step, b[j].step) for i, j in by_fraction] == [(s, s // 2) for s in range(0, 1001, 100)]


def test_matching_keeps_pairs_within_the_tolerance_and_each_snapshot_once():
    a = snaps([0, 100, 101, 200], 1)
    b = snaps([0, 103, 300], 1)
    assert match_snapshots(a, b, "step", 0.05) == [(0, 0), (2, 1)]  # 101 is nearer 103 than 100 is
    assert match_snapshots(a, b, "step", 0.01) == [(0, 0)]
    # fraction: 200/200 pairs with 300/300, 100/200 with nothing near 0.5
    assert match_snapshots(a, b, "fraction", 0.05) == [(0, 0), (3, 2)]


# -- shared tokens and the splits ----------------------------------------------------------------------------


def test_tokens_match_by_text_without_the_bpe_marker(tmp_path):
    a = ["<unk>", "▁The", "▁the", "the", "▁cat", "s", "▁red", "dog"]
    b = ["<unk>", "the", "cat", "red", "blue"]
    make_toy_run(tmp_path / "a", tokens=a, labels=[None] * len(a), steps=[0, 10])
    make_toy_run(tmp_path / "b", tokens=b, labels=[None] * len(b), steps=[0, 10])
    shared = shared_tokens(open_side(tmp_path / "a"), open_side(tmp_path / "b"))
    assert shared.casefold  # b has no capital letter: a lowercasing tokenizer
    assert shared.words == ["the", "cat", "red"]
    assert [a[i] for i in shared.rows_a] == ["▁the", "▁cat", "▁red"]  # the word-start token, the exact case
    assert [b[i] for i in shared.rows_b] == ["the", "cat", "red"]


def test_frequency_and_category_splits_are_agreements_in_the_unit_interval(toy_run, tmp_path):
    make_toy_run(tmp_path / "seed1", n_words=300, n_snapshots=8, dim=16, seed=1)
    report = compare_runs(toy_run, tmp_path / "seed1")
    split = report.data["split"]
    quartiles = split["frequency"]["groups"]
    assert [g["name"] for g in quartiles] == ["Q1 (most frequent)", "Q2", "Q3", "Q4 (rarest)"]
    assert [g["n"] for g in quartiles] == [75] * 4
    assert all(hi["counts"][0] >= lo["counts"][1] for hi, lo in zip(quartiles, quartiles[1:]))
    pos = {g["name"] for g in split["pos"]["groups"]}
    assert pos == {"p0", "p1", "p2"}
    for groups in (quartiles, split["word_class"]["groups"], split["pos"]["groups"]):
        for g in groups:
            assert len(g["jaccard"]) == len(report.data["snapshots"])
            assert all(0.0 <= v <= 1.0 for v in g["jaccard"])
    # the quartiles' agreement, weighted by size, is the overall agreement
    overall = np.mean([[g["jaccard"][i] for g in quartiles] for i in range(8)], axis=1)
    np.testing.assert_allclose(overall, [s["jaccard_mean"] for s in report.data["snapshots"]], atol=1e-12)
    finding = report.data["findings"][0]
    assert finding["claim"].startswith("frequent tokens") and finding["snapshots"] == 7
    assert isinstance(finding["holds"], bool) and finding["verdict"]


# -- the command ------------------------------------------------------------------------------------------------


def test_cli_prints_the_report_and_json_has_a_cka_per_matched_snapshot(toy_run, tmp_path, capsys):
    make_toy_run(tmp_path / "short", n_words=200, n_snapshots=5, dim=8, seed=2, steps=[0, 10, 100, 250, 500])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", str(toy_run), str(tmp_path / "short"), "--json"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["schema"] == SCHEMA and data["match"]["by"] == RunsOptions.match == "fraction"
    assert data["shared"]["n_tokens"] == 200
    assert len(data["snapshots"]) == data["match"]["pairs"] >= 2
    assert all(0.0 <= s["cka"] <= 1.0 for s in data["snapshots"])
    assert captured.err == ""  # --json: no progress bar
    with pytest.raises(SystemExit):
        cli.main(["compare", str(toy_run), str(tmp_path / "short"), "--match", "step"])
    text = capsys.readouterr().out
    assert "linear CKA" in text and "Procrustes" in text and "Q4 (rarest)" in text
    assert "frequent tokens converge across runs faster than rare ones" in text
    with pytest.raises(SystemExit):
        cli.main(["compare", str(toy_run), str(toy_run), "--quiet"])
    assert capsys.readouterr().out == ""


def test_words_are_listed_with_their_neighbours_in_both_runs(toy_run, tmp_path):
    rotated = transformed(toy_run, tmp_path / "rotated", lambda x: x @ ortho_group.rvs(16, random_state=5))
    with pytest.warns(UserWarning, match="nosuchword"):
        report = compare_runs(toy_run, rotated, RunsOptions(words=("W3", "nosuchword"), neighbours=5))
    [entry] = report.data["neighbours"]
    assert entry["word"] == "W3" and entry["token"] == "w3" and entry["step_a"] == entry["step_b"] == Run(toy_run).snapshots()[-1].step
    assert len(entry["a"]) == 5 and "w3" not in {n["word"] for n in entry["a"]}
    # a rotation moves no neighbour: the same words at the same cosines
    assert [n["word"] for n in entry["a"]] == [n["word"] for n in entry["b"]]
    np.testing.assert_allclose([n["cosine"] for n in entry["a"]], [n["cosine"] for n in entry["b"]], atol=1e-5)


def test_bad_input_is_one_error_line(toy_run, tmp_path, cli_error):
    make_toy_run(tmp_path / "other", tokens=["x", "y", "z", "q"], labels=[None] * 4)
    assert "share 0 token(s)" in cli_error(["compare", str(toy_run), str(tmp_path / "other")])
    empty = transformed(toy_run, tmp_path / "empty", lambda x: x)
    write_json(empty / "snapshots" / INDEX_JSON, [])
    assert "no snapshots" in cli_error(["compare", str(toy_run), str(empty)])
    broken = transformed(toy_run, tmp_path / "broken", lambda x: x)
    manifest = read_json(broken / RUN_JSON)
    del manifest["status"]
    write_json(broken / RUN_JSON, manifest)
    assert "status" in cli_error(["compare", str(broken), str(toy_run)])
    (tmp_path / "notjson" / RUN_JSON).parent.mkdir()
    (tmp_path / "notjson" / RUN_JSON).write_text("{", encoding="utf-8")
    assert cli_error(["compare", str(toy_run), str(tmp_path / "notjson")])
    assert "none of the --words" in cli_error(["compare", str(toy_run), str(toy_run), "--words", "zzyzx"])
    assert "--match must be one of" in cli_error(["compare", str(toy_run), str(toy_run), "--match", "epoch"])
    assert "--sample must be 0" in cli_error(["compare", str(toy_run), str(toy_run), "--sample", "2"])
    assert "no tokens seen" in cli_error(["compare", str(toy_run), str(zero_tokens(toy_run, tmp_path)),
                                          "--match", "tokens"])
    assert "no snapshots match by step" in cli_error(["compare", str(toy_run), str(shifted(toy_run, tmp_path)),
                                                      "--match", "step"])


def zero_tokens(source: Path, tmp_path: Path) -> Path:
    """A copy of ``source`` whose snapshots record no tokens seen (as an import without a trainer state)."""
    target = transformed(source, tmp_path / "zero", lambda x: x)
    index = read_json(target / "snapshots" / INDEX_JSON)
    write_json(target / "snapshots" / INDEX_JSON, [{**s, "tokens_seen": 0} for s in index])
    return target


def shifted(source: Path, tmp_path: Path) -> Path:
    """A copy of ``source`` whose snapshots sit at steps no snapshot of ``source`` is near."""
    target = transformed(source, tmp_path / "shifted", lambda x: x)
    index = read_json(target / "snapshots" / INDEX_JSON)
    write_json(target / "snapshots" / INDEX_JSON, [{**s, "step": 10 * s["step"] + 5000} for s in index])
    return target


def test_a_snapshot_with_nan_is_one_error(toy_run, tmp_path, cli_error):
    def poison(x):
        x = x.copy()
        x[0, 0] = np.nan
        return x

    assert "nan" in cli_error(["compare", str(toy_run), str(transformed(toy_run, tmp_path / "nan", poison))])


def test_shared_tokens_need_three(tmp_path):
    make_toy_run(tmp_path / "a", tokens=["a", "b", "c", "d"], labels=[None] * 4)
    make_toy_run(tmp_path / "b", tokens=["a", "b", "x", "y"], labels=[None] * 4)
    with pytest.raises(RunError, match="share 2 token"):
        compare_runs(tmp_path / "a", tmp_path / "b")


def test_the_finding_says_plainly_whether_it_holds():
    from embviz.compare.runs import Agreement, Group, finding

    steps = [0, 10, 20, 40, 80]
    early = np.array([0.0, 0.5, 0.6, 0.6, 0.6])  # rises at once, stays highest
    late = np.array([0.0, 0.05, 0.1, 0.3, 0.5])  # rises late, ends lower
    agreements = [Agreement(s, s, 1.0, 0.0, np.array([e, e, lt, lt]))
                  for s, e, lt in zip(snaps(steps, 1), early, late)]
    fractions = np.array(steps) / 80
    first, second = Group("first", np.array([0, 1])), Group("second", np.array([2, 3]))
    held = finding("first converge faster", first, second, agreements, fractions, chance=0.0)
    assert held["holds"] and held["earlier"] and held["higher"] and held["higher_at"] == 4
    assert held["converged_at"] == [0.25, 1.0]
    assert "holds on these runs" in held["verdict"]
    turned = finding("second converge faster", second, first, agreements, fractions, chance=0.0)
    assert not (turned["holds"] or turned["earlier"] or turned["higher"])
    assert "does NOT hold on these runs" in turned["verdict"]
