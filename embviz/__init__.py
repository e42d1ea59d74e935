"""embviz: watch the token embeddings of a small language model learn.

Python use mirrors the command line::

    from embviz import TrainConfig, train
    result = train(TrainConfig(corpus="synthetic"), "runs/demo")
"""

__version__ = "0.1.0"
__all__ = ["TrainConfig", "TrainResult", "resume", "train", "__version__"]


def __getattr__(name: str):
    """Import the training stack (torch) only when it is used."""
    if name in ("TrainConfig", "TrainResult", "resume", "train"):
        from embviz.training import loop as training

        return getattr(training, name)
    raise AttributeError(f"module 'embviz' has no attribute {name!r}")
