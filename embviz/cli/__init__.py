"""The ``embviz`` command line: parse options, call one library function, show progress and results.

:mod:`~embviz.cli.core` holds the app, its progress bars and :func:`main`; :mod:`~embviz.cli.options` the
options several commands share; one module per command group registers its commands, in the order
``embviz --help`` lists them. Every error embviz raises on purpose reaches the user as one ``Error:`` line.
"""

# isort: off
from embviz.cli import train, compare, interop, film, live  # noqa: F401  (registers the commands, in --help order)
# isort: on
from embviz.cli.core import app, main

__all__ = ["app", "main"]
