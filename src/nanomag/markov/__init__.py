"""The master equation as a Markov chain: the one rate builder and the generic chain algorithms.

* :mod:`~nanomag.markov.rates`: states, transitions, generator, current operators and KMC tables of a device;
* :mod:`~nanomag.markov.chain`: the switching convention, reachability, banded GTH and uniformisation.
"""

from . import chain, rates

__all__ = ["rates", "chain"]
