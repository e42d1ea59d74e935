"""``start_training``: ``embviz train`` from Python in a background thread, so a notebook's kernel stays usable
while the run trains; the handle shows the run's live map (:class:`embviz.notebook.live.LiveMap`).

The thread runs the one training entry point, :func:`embviz.training.loop.train`; :meth:`Training.stop` asks
it to stop as Ctrl-C does (the step finishes, a snapshot and a checkpoint are saved, ``embviz train --resume``
continues it).
"""

from __future__ import annotations

import threading
from dataclasses import fields
from pathlib import Path

from embviz.errors import ConfigError
from embviz.training.config import TrainConfig, default_run_dir


class Training:
    """A run training in a background thread; ``status`` is its last step (a ``TrainStatus``, None before the first)."""

    def __init__(self, config: TrainConfig, out: Path, *, overwrite: bool, live: bool):
        from embviz.training.distributed import StopFlag

        self.config, self.run_dir = config, out
        self.status = None
        self._stop = StopFlag()
        self._result = self._error = None
        self.map = None
        if live:
            from embviz.notebook.live import LiveMap

            self.map = LiveMap(out)
        self._thread = threading.Thread(target=self._train, args=(overwrite,), name=f"embviz train {out}", daemon=True)
        self._thread.start()

    def _train(self, overwrite: bool) -> None:
        from embviz.training.loop import train

        def report(status) -> None:
            self.status = status

        try:
            self._result = train(self.config, self.run_dir, overwrite=overwrite, progress=report, stop=self._stop)
        except BaseException as e:  # handed to wait(), in the caller's thread
            self._error = e
        finally:
            if self.map is not None:  # the map draws what the run wrote, then stops following it
                self.map.stop()
                if self._error is not None:
                    self.map.wait()
                    self.map.state = f"error: {self._error}"

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Ask the run to stop after its current step (it saves and can be resumed); returns at once."""
        self._stop.was_requested = True

    def wait(self, timeout: float | None = None):
        """The run's ``TrainResult`` once it has ended (re-raising its error); a TimeoutError after ``timeout`` seconds."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"{self.run_dir} is still training after {timeout} s")
        if self.map is not None:
            self.map.wait()
        if self._error is not None:
            raise self._error
        return self._result

    def _repr_mimebundle_(self, **kwargs):
        if self.map is not None:
            return self.map._repr_mimebundle_(**kwargs)
        return {"text/plain": repr(self)}

    def __repr__(self) -> str:
        st = self.status
        where = "starting" if st is None else f"step {st.step}/{st.total_steps}, loss {st.loss:.3f}"
        return f"<embviz training {self.run_dir}: {'done' if self.done else where}>"


def start_training(corpus: str = TrainConfig.corpus, out: Path | str | None = None, *, overwrite: bool = False,
                   live: bool = True, **options) -> Training:
    """Train ``corpus`` into ``out`` (default ``runs/<corpus>-<time>``) in a background thread, with ``embviz train``'s
    options as :class:`TrainConfig` fields; with ``live``, the handle carries the run's live map (and shows it).

    Bad options raise ConfigError here, before the thread starts; errors of the run itself come from ``wait()``.
    """
    names = {f.name for f in fields(TrainConfig)} - {"corpus"}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(f"unknown train option(s) {', '.join(unknown)}; the options are {', '.join(sorted(names))}")
    config = TrainConfig(corpus=str(corpus), **options)
    config.validate()
    return Training(config, Path(out) if out is not None else default_run_dir(config.corpus), overwrite=overwrite,
                    live=live)
