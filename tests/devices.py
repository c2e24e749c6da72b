"""Devices shared by the tests (import with `from devices import ...`)."""

import nanomag as nm


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
