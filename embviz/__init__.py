"""embviz: watch the token embeddings of a small language model learn.

Python use mirrors the command line::

    from embviz import TrainConfig, train
    result = train(TrainConfig(corpus="synthetic"), "runs/demo")

and in a notebook ``embviz.show(run_dir)`` is the run's explorer inline.
"""

__version__ = "0.1.0"
__all__ = ["TrainConfig", "TrainResult", "resume", "show", "train", "__version__"]

_HOMES = {"TrainConfig": "embviz.training.loop", "TrainResult": "embviz.training.loop", "resume": "embviz.training.loop",
          "train": "embviz.training.loop", "show": "embviz.notebook.explorer"}


def __getattr__(name: str):
    """Import each part (the training stack: torch) only when it is used."""
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'embviz' has no attribute {name!r}")
