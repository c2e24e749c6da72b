"""Helpers shared by the continuum engines (NMD coefficients, Fokker-Planck, Langevin)."""

from __future__ import annotations

from .._validate import check_u
from ..errors import ConfigError
from ..model.device import Device, Grain

__all__ = ["FORMS", "single_orbital", "check_form", "wall_distance", "orient"]

#: The two Fokker-Planck / Langevin forms: Ito (Eq. 35a) and flux.
FORMS = ("ito", "flux")


def single_orbital(dev: Device) -> Grain:
    """The grain of a single-orbital device (the continuum limit is defined for it only)."""
    if not isinstance(dev.grain, Grain):
        raise ConfigError("the continuum limit (Eq. 24) is defined for the single-orbital grain only")
    return dev.grain


def check_form(form: object) -> str:
    """``form`` if it is "ito" or "flux", else ConfigError."""
    if form not in FORMS:
        raise ConfigError(f"form: must be 'ito' or 'flux', got {form!r}")
    return form


def wall_distance(dev: Device, form: str, cutoff: float | None) -> float:
    """Distance of the reflecting walls from the poles: 0 for the flux form, default 1/(2 S0) for Ito."""
    if form == "flux":
        return 0.0
    if cutoff is None:
        return 1.0 / (2.0 * dev.grain.S0)
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not 0 < cutoff < 0.5:
        raise ConfigError(f"pole_cutoff: expected a number in (0, 0.5), got {cutoff!r}")
    return float(cutoff)


def orient(dev: Device, start_u: float, target_u: float, form: str,
           cutoff: float | None) -> tuple[int, float, float, float]:
    """Mirror a first-passage question to an upward one: (s, wall, start, target) in v = s u."""
    single_orbital(dev)
    u0 = check_u("start_u", start_u)
    u1 = check_u("target_u", target_u)
    if u0 == u1:
        raise ConfigError(f"target_u: must differ from start_u (both are {u0})")
    if abs(u1) == 1.0:
        raise ConfigError("target_u: the continuum first passage to a pole is infinite in the flux form "
                          "(an entrance boundary); use |target_u| < 1")
    s = 1 if u1 > u0 else -1
    delta = wall_distance(dev, form, cutoff)
    lo = -1.0 + delta
    b = s * u1
    if b <= lo:
        raise ConfigError(f"target_u: lies inside the Ito pole cutoff ({delta:g}) of the reflecting pole")
    x = max(s * u0, lo)
    return s, lo, x, b
