"""``explore --serve``: the explorer page of a run too big for one file, served from 127.0.0.1.

The page is ``explore``'s (the same words, layout and curves) without the neighbour arrays, with
``"serve": true``; the page asks ``GET /neighbours?word=<index>&snapshot=<index>`` (indices into the page's
words and snapshots) and gets ``{"neighbours": [[index, cosine], ...]}`` (most similar first) or
``{"error": "..."}`` with status 400. The neighbours are found among the page's words in the original
d-dimensional space, by cosine, from the run's memory-mapped snapshots
(:class:`~embviz.measure.neighbours.NeighbourEngine`). Only the two routes exist (``/`` and ``/neighbours``):
no file is served by path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from embviz.errors import ConfigError
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import NEIGHBOURS, explore_data, render_page
from embviz.film.stages import MAX_GATHERED
from embviz.measure.neighbours import NeighbourEngine
from embviz.progress import Progress
from embviz.rundir.run import Run
from embviz.serve.server import Request, Response, Routes, Server

ROUTE = "/neighbours"
_INDEX = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class ServedExplorer:
    """A server (not yet started; a context manager) for one run's page, its neighbour engine and sizes."""

    server: Server
    engine: NeighbourEngine
    n_words: int
    n_snapshots: int
    page_bytes: int

    @property
    def url(self) -> str:
        return self.server.url


def _index(request: Request, name: str) -> int:
    value = request.query.get(name)
    if value is None:
        raise ConfigError(f"{name}=<index> is missing")
    if not _INDEX.fullmatch(value):
        raise ConfigError(f"{name} must be an index (0, 1, …), got {value[:40]!r}")
    return int(value)


def neighbours_route(engine: NeighbourEngine):
    """The ``/neighbours`` handler: one word's neighbours at one snapshot as JSON, or a clear error."""

    def answer(request: Request) -> Response:
        try:
            idx, cos = engine.query(_index(request, "word"), _index(request, "snapshot"))
        except ConfigError as e:
            return Response.json({"error": str(e)}, status=400)
        return Response.json({"neighbours": [[int(i), round(float(c), 6)] for i, c in zip(idx, cos)]})

    return answer


def serve_explore(run_dir: Path, options: AnimateOptions = AnimateOptions(), *, port: int = 0, mode: str = "auto",
                  progress: Progress | None = None, gather_limit: int = MAX_GATHERED) -> ServedExplorer:
    """Build the served page of the run in ``run_dir`` and a server for it on ``127.0.0.1:port`` (0: a free
    port); neighbours by ``mode`` (:data:`embviz.measure.neighbours.MODES`). Start it with ``with result.server:``.
    Words whose rows take more than ``gather_limit`` bytes are streamed (:func:`~embviz.film.stages.film_stages`).

    Raises EmbvizError subclasses for bad input (a port in use first of all, before any snapshot is read).
    """
    options.validate()
    run = Run.open(Path(run_dir))
    pages: dict = {}
    server = Server(Routes(pages=pages), port)  # the port is taken now, the routes filled in once ready
    try:
        stages, data = explore_data(run, options, serve=True, progress=progress, gather_limit=gather_limit)
        snapshots, rows, matrix = stages.snapshots, stages.selection.rows, options.matrix
        engine = NeighbourEngine(lambda t, r: run.load_snapshot(snapshots[t], r, matrix), len(snapshots), rows,
                                 stages.rows.dim, k=NEIGHBOURS, mode=mode, seed=options.seed)
        page = Response.html(render_page(data))
    except BaseException:
        server.stop()
        raise
    pages.update({"/": lambda request: page, ROUTE: neighbours_route(engine)})
    return ServedExplorer(server, engine, len(rows), len(snapshots), len(page.body))
