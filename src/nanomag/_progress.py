"""Progress bars of the long calls of the Python API (private).

``progress=True`` on a long call (KMC ensembles, rare-event samplers, write
error rate maps, spectroscopy maps, exact sweeps) shows a tqdm bar chosen as
:mod:`tqdm.auto` does: a widget in a Jupyter notebook (with ipywidgets), a
text bar on a terminal (and in a notebook without ipywidgets, without
tqdm.auto's warning).  The default
is False in the API; the command line turns it on (rank 0 only).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import ConfigError

__all__ = ["check_progress", "bar", "chunk_for", "tracked_map", "iterate", "ReplicaBar", "replica_callback"]

#: Chunks a bar is split into when the caller did not choose a chunk size.
STEPS = 20


def check_progress(progress) -> bool:
    """``progress`` as a bool (True or False only: one clear error else)."""
    if not isinstance(progress, bool):
        raise ConfigError(f"progress: expected True or False, got {progress!r}")
    return progress


class _Silent:
    """The bar of ``progress=False``: accepts the calls of a tqdm bar and shows nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def bar(progress: bool, total: float | None, *, unit: str, desc: str | None = None):
    """A :mod:`tqdm.auto` bar of ``total`` steps when ``progress`` (else a silent stand-in); use it as a context."""
    if not check_progress(progress):
        return _Silent()
    return _tqdm()(total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True)


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython already imported and running as a kernel app)."""
    if "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _tqdm():
    """tqdm.auto's choice: the widget bar in a notebook that has ipywidgets, else the text bar.

    (tqdm.auto itself warns "IProgress not found" in a notebook without
    ipywidgets; the text bar is shown there instead, silently.)
    """
    if _in_notebook():
        try:
            import ipywidgets  # type: ignore[import-not-found]  # noqa: F401
            from tqdm.notebook import tqdm as widget

            return widget
        except ImportError:
            pass
    from tqdm.std import tqdm as text

    return text


def chunk_for(progress: bool, n: int, chunk_size: int | None) -> int | None:
    """``chunk_size``, or with a bar and no chunk size chosen, ~n/STEPS (results do not depend on the chunking)."""
    if chunk_size is not None or not progress:
        return chunk_size
    return max(1, math.ceil(n / STEPS))


def iterate(progress: bool, items: Iterable[Any], *, total: int | None = None, unit: str,
            desc: str | None = None) -> Iterator[Any]:
    """``items``, advancing a bar by one per item when ``progress``."""
    with bar(progress, total, unit=unit, desc=desc) as b:
        for item in items:
            yield item
            b.update(1)


def tracked_map(progress: bool, map_fn: Callable[..., Iterable[Any]] | None, *, total: int, unit: str,
                desc: str | None = None) -> Callable[..., list]:
    """A ``map_fn(fn, *iterables) -> list`` (``map_fn`` or the builtin map) that advances a bar per result."""
    inner = map if map_fn is None else map_fn

    def run(fn, *iterables):
        return list(iterate(progress, inner(fn, *iterables), total=total, unit=unit, desc=desc))

    return run


class ReplicaBar:
    """``progress(estimate)`` callback of the rare-event samplers as a bar over replicas (postfix: the estimate)."""

    def __init__(self, progress: bool, desc: str | None = None):
        self.bar = bar(progress, None, unit="replica", desc=desc)
        self.seen = 0

    def __call__(self, est) -> None:
        value = est.mfpt if hasattr(est, "mfpt") else est.wer
        lo, hi = est.ci
        if math.isfinite(est.quantile) and hasattr(self.bar, "total"):
            self.bar.total = est.n_planned
        self.bar.set_postfix_str(f"{value:.4g} [{lo:.3g}, {hi:.3g}], {est.n_events:.3g} events")
        self.bar.update(max(est.n_replicas - self.seen, 0))
        self.seen = max(est.n_replicas, self.seen)

    def close(self) -> None:
        self.bar.close()


def replica_callback(progress) -> tuple[Callable[[Any], None] | None, Callable[[], None]]:
    """(callback, close) of a rare sampler's ``progress``: False/None (none), True (a bar) or a callable."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        b = ReplicaBar(True)
        return b, b.close
    if callable(progress):
        return progress, lambda: None
    raise ConfigError(f"progress: expected True, False or a callable, got {progress!r}")
