"""Rare events: mean switching times far beyond brute force, on the KMC engine's tables and streams.

* :func:`switching_rate`: mean switching time (and rate) in the activated
  regime, by forward flux sampling with interfaces in u, with a confidence
  interval, automatic stopping at a relative precision or an event budget,
  and per-interface statistics (:class:`SwitchingRate`).

The method, its exactness and its measured coverage are in docs/rare.md.
"""

from .ffs import FluxSampler, SwitchingRate, switching_rate

__all__ = ["switching_rate", "SwitchingRate", "FluxSampler"]
