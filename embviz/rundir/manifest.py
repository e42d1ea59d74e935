"""``run.json``: a run's manifest as one dataclass, :class:`RunManifest`, written with ``dataclasses.asdict``.

Its writers are ``train`` (a run it trains), ``import`` (a run of imported checkpoints) and
``compare-word2vec`` (the one-snapshot run of its baseline under ``<run>/word2vec/``). The sections whose
shape is fixed are typed (:class:`CorpusInfo`); ``config``, ``chosen``, ``model``, ``result``,
``import`` and ``word2vec`` stay plain JSON objects, because what they hold differs between a trained
and an imported run. A key that is absent or ``null`` reads as ``None`` and is not written back.

``schema`` is the manifest's version: :data:`SCHEMA` for runs written by this embviz; a run.json
without one was written before it had versions (version 1, the same keys) and opens as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from embviz.errors import RunError

SCHEMA = 2
STATUSES = ("running", "complete", "interrupted")


def require(data: Any, key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    """``data[key]``, which must exist and be a ``kind`` (a bool is never an int here), or a RunError."""
    if not isinstance(data, dict) or key not in data:
        raise RunError(f"{where}: missing key {key!r}")
    if data[key] is None:
        raise RunError(f"{where}: {key!r} has the wrong type (null)")
    return optional(data, key, kind, where)


def optional(data: dict, key: str, kind: type | tuple[type, ...], where: Path | str) -> Any:
    """``data[key]`` if it is a ``kind``, None if absent or null, else a RunError."""
    value = data.get(key)
    if value is not None and (isinstance(value, bool) and bool not in _kinds(kind) or not isinstance(value, kind)):
        raise RunError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


@dataclass
class CorpusInfo:
    """The text a run was trained on: its name, where it was read, its hash and token counts."""

    name: str | None = None
    source: str | None = None
    sha256: str | None = None
    tokens: int | None = None
    train_tokens: int | None = None
    val_tokens: int | None = None

    @classmethod
    def from_json(cls, data: Any, where: Path) -> "CorpusInfo":
        if not isinstance(data, dict):
            raise RunError(f"{where}: 'corpus' must be an object, not {type(data).__name__}")
        return cls(**{f.name: optional(data, f.name, _TYPES[f.type], f"{where}: corpus") for f in fields(cls)})


@dataclass
class RunManifest:
    """What ``run.json`` holds. ``import_`` is the JSON key ``import``; ``extra`` keeps keys this
    version does not know, so rewriting a manifest never drops them."""

    status: str
    config: dict
    """The options of the run: a trained run's ``TrainConfig``; an import's ``imported``, ``seed``, ``corpus``."""
    chosen: dict | None = None
    """The values the run used (``Chosen`` plus ``min_count``; an import records ``epochs`` only)."""
    model: dict | None = None
    """``ModelConfig`` of a trained run; ``d_model``, ``vocab_size``, ``rows`` of an import."""
    snapshot_matrix: str | None = None
    corpus: CorpusInfo | None = None
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    world_size: int | None = None
    segmenter: str | None = None
    frequencies: str | None = None
    import_: dict | None = None
    baseline_of: str | None = None
    word2vec: dict | None = None
    versions: dict | None = None
    created: str | None = None
    result: dict | None = None
    """``TrainResult`` of a finished (or interrupted) training."""
    schema: int = SCHEMA
    """The version the file was written with (1: before versions); a manifest is always written as :data:`SCHEMA`."""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: Path) -> "RunManifest":
        """The manifest in ``data`` (parsed ``run.json``), each section checked; a bad one is a RunError."""
        if not isinstance(data, dict):
            raise RunError(f"{where}: expected a JSON object, not {type(data).__name__}")
        schema = optional(data, "schema", int, where)
        if schema is not None and not 1 <= schema <= SCHEMA:
            raise RunError(f"{where}: manifest schema {schema} is not one this embviz reads (1 to {SCHEMA}); "
                           "a newer embviz wrote it")
        status = require(data, "status", str, where)
        if status not in STATUSES:
            raise RunError(f"{where}: unknown status {status!r}")
        values: dict[str, Any] = {"status": status, "config": require(data, "config", dict, where),
                                  "schema": 1 if schema is None else schema}
        for f in fields(cls):
            key = _key(f.name)
            if f.name in values or f.name == "extra" or data.get(key) is None:
                continue
            if f.name == "corpus":
                values["corpus"] = CorpusInfo.from_json(data["corpus"], where)
            else:
                values[f.name] = optional(data, key, _TYPES[f.type], where)
        known = {_key(f.name) for f in fields(cls)}
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    def to_json(self) -> dict:
        """The ``run.json`` object: ``schema`` (:data:`SCHEMA`) first, then every section that is not None (an absent
        corpus field is left out too), then the keys kept in ``extra``."""
        data = asdict(self)
        extra = data.pop("extra")
        data.pop("schema")
        out: dict[str, Any] = {"schema": SCHEMA}
        for name, value in data.items():
            if name == "corpus" and value is not None:
                value = {k: v for k, v in value.items() if v is not None}
            if value is not None:
                out[_key(name)] = value
        return {**out, **extra}

    # -- what the readers ask for ------------------------------------------------------------------

    def setting(self, key: str, kind: type | tuple[type, ...], default: Any = None, where: Path | str = "run.json"
                ) -> Any:
        """``config[key]`` if it is a ``kind``, ``default`` if absent or null, else a RunError."""
        value = optional(self.config, key, kind, f"{where}: config")
        return default if value is None else value

    @property
    def seed(self) -> int:
        return self.setting("seed", int, 0)

    @property
    def epochs(self) -> int | None:
        """The epochs the run was set to train (``chosen.epochs``), None if not recorded."""
        return _int(self.chosen, "epochs")

    @property
    def epochs_run(self) -> int | None:
        """The epochs the run trained: the result's ``epochs_done`` (fewer than :attr:`epochs` when it
        stopped early), else the chosen epochs (imported runs have no result)."""
        done = _int(self.result, "epochs_done")
        return done if done is not None and done > 0 else self.epochs

    @property
    def d_model(self) -> int | None:
        """The embedding width: ``model.d_model``, else ``chosen.d_model``, None if neither is an int."""
        return _int(self.model, "d_model") or _int(self.chosen, "d_model")

    @property
    def tied(self) -> bool:
        """Whether the LM head is the token embedding (``model.tie``, else ``config.tie``; default yes)."""
        return bool((self.model or {}).get("tie", self.config.get("tie", True)))


def _int(section: dict | None, key: str) -> int | None:
    value = (section or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _key(name: str) -> str:
    return name.rstrip("_")


_TYPES = {"dict | None": dict, "str | None": str, "int | None": int}
