"""embviz: watch the token embeddings of a small language model learn.

Python use mirrors the command line::

    from embviz import TrainConfig, train
    result = train(TrainConfig(corpus="synthetic"), "runs/demo")

and in a notebook ``embviz.show(run_dir)`` is the run's explorer inline, ``embviz.start_training(corpus, out)``
trains in the background with a live map of the run (``embviz.LiveMap(run_dir)`` follows any run).
"""

__version__ = "0.1.0"
__all__ = ["LiveMap", "TrainConfig", "TrainResult", "resume", "show", "start_training", "train", "__version__"]

_HOMES = {"TrainConfig": "embviz.training.loop", "TrainResult": "embviz.training.loop", "resume": "embviz.training.loop",
          "train": "embviz.training.loop", "show": "embviz.notebook.explorer", "LiveMap": "embviz.notebook.live",
          "start_training": "embviz.notebook.training"}


def __getattr__(name: str):
    """Import each part (the training stack: torch) only when it is used."""
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'embviz' has no attribute {name!r}")
