"""Rare events: mean switching times far beyond brute force, on the KMC engine's tables and streams.

* :func:`switching_rate`: mean switching time (and rate) in the activated
  regime, by forward flux sampling with interfaces in u, with a confidence
  interval, automatic stopping at a relative precision or an event budget,
  and per-interface statistics (:class:`SwitchingRate`);
* :func:`write_error_rate`: the write error rate of a protocol (the
  definition of :func:`nanomag.exact.write_error_rate`) far below 1/(runs that
  brute force could afford), by a weighted ensemble in (u, t), with the same
  interval and stopping (:class:`WriteErrorRate`).

The method, its exactness and its measured coverage are in docs/rare.md.
"""

from .ffs import FluxSampler, SwitchingRate, switching_rate
from .we import WERSampler, WriteErrorRate, write_error_rate

__all__ = ["switching_rate", "SwitchingRate", "FluxSampler", "write_error_rate", "WriteErrorRate", "WERSampler"]
