"""Devices shared by the tests (import with `from devices import ...`), and their configuration text."""

from pathlib import Path

import nanomag as nm
from nanomag.model.text import device_toml

#: The repository's example configurations.
RUNS = Path(__file__).resolve().parents[1] / "runs"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def config_text(dev, *, protocol=None, **run) -> str:
    """``dev`` as configuration text (:func:`nanomag.model.text.device_toml`), then the ``[[protocol]]`` tables
    of ``protocol`` and a ``[run]`` table of ``run`` (in order), when given."""
    text = device_toml(dev)
    if protocol is not None:
        text += "\n" + protocol.to_toml().lstrip("\n")
    if run:
        text += "\n[run]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in run.items())
    return text


def switching_device(S0=50, eta=1, T=0.05, theta=None):
    """The drift-dominated switching device of runs/switching.toml, rates scaled with S0."""
    unit = 8 * S0 * 0.01
    if theta is None:
        left = nm.Lead(mu=3.0, gamma_up=4.5 * unit, gamma_down=1.5 * unit, name="left")
    else:
        left = nm.Lead.from_magnetisation(3.0, 4.5 * unit, 1.5 * unit, theta, name="left")
    right = nm.Lead(mu=-3.0, gamma_up=1.5 * unit, gamma_down=4.5 * unit, name="right")
    grain = nm.Grain(S0=S0, eta=eta, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=T)
    return nm.Device(grain=grain, leads=(left, right))


def equilibrium_device(S0=5, eta=1, T=0.3, mu=0.2, alpha=0.05):
    """Two polarised leads at the same mu and T: equilibrium with the bath."""
    grain = nm.Grain(S0=S0, eta=eta, kappa=0.7, h=0.15, eps=0.1, alpha=alpha, T=T)
    leads = (nm.Lead(mu=mu, gamma_up=2.0, gamma_down=0.5, name="a"),
             nm.Lead(mu=mu, gamma_up=0.3, gamma_down=1.7, name="b"))
    return nm.Device(grain=grain, leads=leads)


def bistable_device(S0=10, barrier=10.0, h=0.0):
    """Two leads at the same chemical potential: an activated switch over the anisotropy barrier kappa S0.

    ``barrier`` is Delta = kappa S0 / T (in units of k_B T).
    """
    grain = nm.Grain(S0=S0, eta=1, kappa=1.0, h=h, eps=0.0, alpha=0.01, T=S0 / barrier)
    leads = (nm.Lead(mu=0.0, gamma_up=3.0, gamma_down=1.0, name="left"),
             nm.Lead(mu=0.0, gamma_up=1.0, gamma_down=3.0, name="right"))
    return nm.Device(grain=grain, leads=leads)


def drift_device(S0):
    """runs/switching.toml with rates scaled as 8 S0 alpha kappa (Fig. 6 upper left), in reduced parameters."""
    return nm.reduced_device((4.5, 1.5, 1.5, 4.5), vbar=3.0, hbar=-0.2, S0=S0, alpha=0.01, T=0.05)


#: Both leads emptied: the switching device at rest, where only the bath acts.
RELAX_MU = {"left": -3.0, "right": -3.0}


def rest_device(S0=50, **kw):
    """The switching device at rest (both leads at mu = -3): stable poles, the bath alone switches it."""
    return switching_device(S0=S0, **kw).replace(mu=RELAX_MU)


def bath_device(S0=20):
    """No leads: the grain and its bath at T = 0.3 (equilibrium, smooth continuum coefficients)."""
    return nm.Device(grain=nm.Grain(S0=S0, kappa=0.5, h=0.1, alpha=0.02, T=0.3))


def one_way_grain(h=-0.5, alpha=0.1):
    """T = 0, bath only: with h = -0.5 S_z can only go down (a target above the start is unreachable);
    with h = 0 the spin falls to either pole; with alpha = 0 nothing moves."""
    return nm.Grain(S0=10, eta=1, kappa=1.0, h=h, eps=0.0, alpha=alpha, T=0.0)


def one_way_device(h=-0.5, alpha=0.1):
    """:func:`one_way_grain` without leads."""
    return nm.Device(grain=one_way_grain(h=h, alpha=alpha))


# --------------------------------------------------------------------------- telegraphing grains

def two_lead_device():
    """eta = +1, two leads, a low barrier: dwells of ~ tens of events (~ 100 time units)."""
    grain = nm.Grain(S0=2, eta=1, kappa=1.0, h=0.1, eps=0.0, alpha=0.1, T=1.0)
    leads = (nm.Lead(mu=0.8, gamma_up=0.6, gamma_down=0.2, name="left"),
             nm.Lead(mu=-0.8, gamma_up=0.2, gamma_down=0.6, name="right"))
    return nm.Device(grain=grain, leads=leads)


def minority_device():
    """eta = -1 (the added electron is a minority one)."""
    grain = nm.Grain(S0=2.5, eta=-1, kappa=1.0, h=-0.1, eps=0.2, alpha=0.1, T=1.0)
    leads = (nm.Lead(mu=1.0, gamma_up=0.5, gamma_down=0.25, name="left"),
             nm.Lead(mu=-0.6, gamma_up=0.3, gamma_down=0.5, name="right"))
    return nm.Device(grain=grain, leads=leads)


def three_lead_device():
    """Three leads, one of them a gate-like probe near the addition energy."""
    grain = nm.Grain(S0=2, eta=1, kappa=1.0, h=0.0, eps=0.1, alpha=0.1, T=1.0)
    leads = (nm.Lead(mu=0.9, gamma_up=0.5, gamma_down=0.2, name="a"),
             nm.Lead(mu=-0.7, gamma_up=0.2, gamma_down=0.5, name="b"),
             nm.Lead(mu=0.1, gamma_up=0.2, gamma_down=0.2, name="c"))
    return nm.Device(grain=grain, leads=leads)


TELEGRAPH_DEVICES = {"eta+1": two_lead_device, "eta-1": minority_device, "three_leads": three_lead_device}
