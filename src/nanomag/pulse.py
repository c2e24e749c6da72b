"""Write error rate maps: WER against pulse width for many pulse heights, exactly.

The pulse is one segment of a :class:`~nanomag.model.protocol.Protocol`; its
*width* is that segment's duration and its *height* one of its parameters,
named as on the command line: ``"mu.left"`` (the left lead's chemical
potential, a bias pulse), ``"h"`` (a field pulse), ``"T"``, ``"eps"``,
``"vg"``, ``"kappa"`` or ``"alpha"``.  The write error rate of every (height,
width) follows the definition of :func:`nanomag.exact.write_error_rate`.

How the map is computed (``docs/pulses.md``):

* the segments before the pulse do not depend on it: the start state is
  propagated through them once;
* the relaxation committors (to the start side and to the target) of the
  device's own chain are solved once, by subtraction-free GTH elimination,
  and carried back through the segments after the pulse by the adjoint
  propagation exp(A^T t) q (non-negative, like the forward one);
* for each height, ONE uniformisation series through the pulse segment
  serves every width: the committors' products with P^k p, k = 0, 1, ...,
  are mixed with each width's Poisson weights
  (:func:`~nanomag.markov.chain.propagate_functionals`); no distribution is stored.

The heights are independent tasks for a ``map``-like ``map_fn`` (processes,
MPI ranks), as in :mod:`nanomag.spectroscopy`; the result does not depend on it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._progress import check_progress, tracked_map
from ._validate import check_times, check_u
from .errors import ConfigError
from .exact import WER_TOL
from .markov.chain import (
    committor,
    propagate,
    propagate_functionals,
    segment_models,
    start_and_target,
    start_side_mask,
)
from .markov.rates import RateModel, build
from .model.device import Device
from .model.protocol import Protocol, Segment, as_protocol
from .model.text import device_toml
from .model.units import to_model_times
from .results import WERMap, parameter_units

__all__ = ["WERMap", "wer_map", "wer_row", "parameter_units"]


def wer_row(seg_dev: Device, p_before: np.ndarray, widths: np.ndarray, q_start: np.ndarray,
            q_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WER and switching probability of one pulse height at every width: one uniformisation series.

    Parameters
    ----------
    seg_dev : Device
        The device during the pulse.
    p_before : ndarray, shape (n_states,)
        The distribution when the pulse starts.
    widths : ndarray, shape (n_widths,)
        Pulse widths, >= 0.  [time]
    q_start, q_target : ndarray, shape (n_states,)
        Committors to the start side and to the target, carried back to the end of the pulse.

    Returns
    -------
    (wer, switching) : ndarrays of shape (n_widths,)
    """
    split = propagate_functionals(build(seg_dev).generator, p_before, widths, np.array([q_start, q_target]),
                                  WER_TOL)
    np.clip(split, 0.0, None, out=split)
    return split[:, 0], split[:, 1]


def _adjoint(model: RateModel, q: np.ndarray, duration: float) -> np.ndarray:
    """exp(A^T duration) q: a function of the state at the end of a segment as one of its start.

    Uniformisation whatever the stiffness: its non-negative terms keep every
    committor value, however small, to full relative accuracy.
    """
    return propagate(model.generator.T.tocsr(), q, [duration], WER_TOL, method="uniformisation")[0]


def wer_map(dev: Device, protocol: Protocol | Segment, start_u: float, target_u: float, *, widths: ArrayLike,
            heights: ArrayLike | None = None, parameter: str | None = None, segment: int = 0,
            map_fn: Callable[..., Iterable[Any]] | None = None, config_toml: str | None = None,
            progress: bool = False) -> WERMap:
    """WER and switching probability for every (pulse height, pulse width).

    Parameters
    ----------
    dev : Device
        The device; its own parameters hold after the protocol (the relaxation).
    protocol : Protocol (or a Segment)
        The drive; segment ``segment`` is the pulse whose width and height vary.
    start_u, target_u : float
        The switching question (``docs/physics.md``).
    widths : array_like, shape (n_widths,)
        Pulse widths >= 0, any order.  [time]
    heights : array_like, shape (n_heights,), optional
        Values of ``parameter`` during the pulse.  Default: the segment's own
        value (one row).
    parameter : str, optional
        ``"mu.LEAD"``, ``"h"``, ``"T"``, ``"eps"``, ``"vg"``, ``"kappa"`` or
        ``"alpha"``; required with ``heights``.
    segment : int
        Index of the pulse segment (default 0).
    map_fn : callable, optional
        ``map``-like ``map_fn(fn, *iterables)``, one task per height.
    config_toml : str, optional
        Configuration text to store with the result (default: the device and
        the protocol as TOML).
    progress : bool
        Show a progress bar over the heights (:mod:`tqdm.auto`: a widget in a notebook).

    Returns
    -------
    WERMap
    """
    t0 = time.perf_counter()
    drive = as_protocol(protocol, dev)
    if drive is None:
        raise ConfigError("protocol: a WER map needs a protocol (the pulse is one of its segments)")
    drive.require_constant("protocol: a WER map")
    start_u, target_u = check_u("start_u", start_u), check_u("target_u", target_u)
    widths = check_times(to_model_times("widths", widths, dev.units))
    if isinstance(segment, bool) or not isinstance(segment, (int, np.integer)) or not 0 <= segment < len(drive):
        raise ConfigError(f"segment: expected an index in [0, {len(drive)}), got {segment!r}")
    segment = int(segment)
    base: Segment = drive[segment]
    if heights is None:
        heights = np.array([base.parameter(parameter, dev) if parameter else math.nan])
        pulses = [base]
    else:
        if not parameter:
            raise ConfigError("parameter: name the pulse height that heights gives (e.g. 'mu.left' or 'h')")
        heights = np.atleast_1d(np.asarray(heights, dtype=float))
        if heights.ndim != 1 or heights.size == 0 or not np.all(np.isfinite(heights)):
            raise ConfigError("heights: expected a non-empty 1-d array of finite numbers")
        pulses = [base.with_parameter(parameter, float(h)) for h in heights]
    seg_devs = []
    for h, pulse in zip(heights, pulses, strict=True):
        try:
            seg_devs.append(pulse.apply(dev))
        except ConfigError as exc:
            raise ConfigError(f"protocol[{segment}] at {parameter} = {h:g}: {exc}") from None
    models = segment_models(dev, drive)
    relax = models[-1]
    start, target = start_and_target(relax, start_u, target_u)
    side = start_side_mask(relax, start_u, target_u)
    # before the pulse: once
    p = np.zeros(relax.n_states)
    p[start] = 1.0
    for k in range(segment):
        p = propagate(models[k].generator, p, [drive[k].duration], WER_TOL, method="uniformisation")[0]
    # after the pulse: the committors, carried back through the later segments
    q_start, q_target = committor(relax, side, target), committor(relax, target, side)
    for k in range(len(drive) - 1, segment, -1):
        q_start = _adjoint(models[k], q_start, drive[k].duration)
        q_target = _adjoint(models[k], q_target, drive[k].duration)
    n = len(seg_devs)
    run = tracked_map(check_progress(progress), map_fn, total=n, unit="height")
    rows = list(run(wer_row, seg_devs, [p] * n, [widths] * n, [q_start] * n, [q_target] * n))
    wer = np.array([r[0] for r in rows]).reshape(n, widths.size)
    switching = np.array([r[1] for r in rows]).reshape(n, widths.size)
    if config_toml is None:
        config_toml = device_toml(dev) + drive.to_toml()
    return WERMap(widths=widths, heights=heights, wer=wer, switching=switching, parameter=parameter or "",
                  segment=segment, start_u=start_u, target_u=target_u, protocol=drive, device=dev,
                  wall_time=time.perf_counter() - t0, config_toml=config_toml, attrs={"wer_tol": WER_TOL})
