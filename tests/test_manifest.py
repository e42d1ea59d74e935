"""run.json as one typed manifest: what the writers write, what old runs hold, what a tampered file gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from embviz.errors import RunError
from embviz.rundir.manifest import SCHEMA, CorpusInfo, RunManifest
from embviz.rundir.run import RUN_JSON, Run

TRAINED_KEYS = ["schema", "status", "config", "chosen", "model", "snapshot_matrix", "corpus", "steps_per_epoch",
                "total_steps", "world_size", "segmenter", "versions", "created", "result"]
"""The keys of a trained run's run.json: the keys written before the manifest had a version, plus ``schema``."""


def edit_manifest(run_dir: Path, change) -> None:
    path = run_dir / RUN_JSON
    data = json.loads(path.read_text(encoding="utf-8"))
    data = change(data)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def test_a_trained_run_writes_todays_keys_plus_the_schema_and_reads_back_typed(word_run):
    data = json.loads((word_run / RUN_JSON).read_text(encoding="utf-8"))
    assert list(data) == TRAINED_KEYS and data["schema"] == SCHEMA
    assert list(data["corpus"]) == ["name", "source", "sha256", "tokens", "train_tokens", "val_tokens"]
    manifest = Run.open(word_run).manifest()
    assert isinstance(manifest.corpus, CorpusInfo) and manifest.corpus.sha256 == data["corpus"]["sha256"]
    assert manifest.epochs == data["chosen"]["epochs"] and manifest.epochs_run == data["result"]["epochs_done"]
    assert manifest.d_model == data["model"]["d_model"] and manifest.seed == data["config"]["seed"]
    assert manifest.to_json() == data


def test_a_run_written_before_the_schema_opens_and_keeps_every_key_when_rewritten(run_copy):
    def today(data: dict) -> dict:  # the shape every run.json had before this version: no schema
        data.pop("schema")
        data["notes"] = {"from": "an older embviz"}  # a key this version does not know
        return data

    edit_manifest(run_copy, today)
    before = json.loads((run_copy / RUN_JSON).read_text(encoding="utf-8"))
    run = Run.open(run_copy)
    assert run.manifest().schema == 1 and run.manifest().status == "complete"
    assert run.corpus_text()  # its corpus hash is read from the typed section
    run.set_status("complete")
    after = json.loads((run_copy / RUN_JSON).read_text(encoding="utf-8"))
    assert after == {"schema": SCHEMA, **before}


def test_an_import_shaped_manifest_round_trips_with_its_import_key():
    data = {"schema": SCHEMA, "status": "complete", "config": {"imported": True, "seed": 0, "corpus": None},
            "chosen": {"epochs": 5}, "model": {"d_model": 8, "vocab_size": 10, "rows": 10},
            "frequencies": "unknown", "import": {"kind": "hf", "sources": []}}
    manifest = RunManifest.from_json(data, Path("run.json"))
    assert manifest.import_ == {"kind": "hf", "sources": []} and manifest.corpus is None
    assert manifest.to_json() == data
    assert manifest.epochs_run == 5  # no result: the recorded epochs


MALFORMED = {
    "not JSON": lambda d: "{",
    "a list, not an object": lambda d: [d],
    "no status": lambda d: {k: v for k, v in d.items() if k != "status"},
    "status a number": lambda d: {**d, "status": 3},
    "status true": lambda d: {**d, "status": True},
    "unknown status": lambda d: {**d, "status": "done"},
    "no config": lambda d: {k: v for k, v in d.items() if k != "config"},
    "config a list": lambda d: {**d, "config": [1, 2]},
    "corpus a list": lambda d: {**d, "corpus": ["toy"]},
    "corpus a string": lambda d: {**d, "corpus": "toy"},
    "corpus sha256 a number": lambda d: {**d, "corpus": {"name": "toy", "sha256": 12}},
    "corpus tokens a string": lambda d: {**d, "corpus": {"name": "toy", "tokens": "many"}},
    "chosen a list": lambda d: {**d, "chosen": []},
    "model a string": lambda d: {**d, "model": "tiny"},
    "result a list": lambda d: {**d, "result": [1]},
    "versions a list": lambda d: {**d, "versions": ["1.0"]},
    "steps_per_epoch a string": lambda d: {**d, "steps_per_epoch": "ten"},
    "import a list": lambda d: {**d, "import": []},
    "schema a string": lambda d: {**d, "schema": "2"},
    "schema from a newer embviz": lambda d: {**d, "schema": SCHEMA + 1},
}


@pytest.mark.parametrize("command", ["animate", "compare-word2vec"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_run_json_is_one_error_line_for_every_command(case, command, toy, tmp_path, cli_error):
    run_dir = tmp_path / "run"
    shutil.copytree(toy, run_dir)  # a toy run: every command opens run.json before anything else
    edit_manifest(run_dir, MALFORMED[case])
    line = cli_error([command, str(run_dir), "-q"])
    assert "run.json" in line


@pytest.mark.parametrize("key, value", [("seed", "zero"), ("max_tokens", "many"), ("corpus", ["a.txt"])])
def test_a_config_value_of_the_wrong_type_is_one_error_line(key, value, run_copy, cli_error):
    edit_manifest(run_copy, lambda d: {**d, "config": {**d["config"], key: value}})
    line = cli_error(["compare-word2vec", str(run_copy), "--workers", "1", "-q"])
    assert "run.json" in line and repr(key) in line


def test_malformed_manifests_raise_run_errors_not_type_errors():
    for case, change in MALFORMED.items():
        if case == "not JSON":
            continue
        data = change({"status": "complete", "config": {}, "corpus": {"name": "toy"}})
        with pytest.raises(RunError):
            RunManifest.from_json(data, Path("run.json"))
