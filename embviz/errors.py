"""Errors that reach users as one line: the CLI prints ``Error: <message>`` and exits non-zero."""


class EmbvizError(Exception):
    """Base of every error embviz raises on purpose."""


class CorpusError(EmbvizError):
    """A corpus that cannot be read or is unusable (missing, empty, binary, too short)."""


class ConfigError(EmbvizError):
    """An option out of range or options that contradict each other."""


class RunError(EmbvizError):
    """A run directory that is missing, locked, incomplete, corrupt or tampered with."""


class CheckpointError(EmbvizError):
    """A model checkpoint that cannot be found, read or trusted, or a series that does not fit together."""
