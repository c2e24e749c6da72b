"""The ``nanomag warm`` subcommand: compile the numba kernels once, into the cache, before a run needs them.

numba compiles a kernel on its first call and keeps the machine code in its
cache (``cache=True``): by default a ``__pycache__`` folder next to the
package's sources when it is writable, else the user's cache folder; with
``NUMBA_CACHE_DIR`` set, that folder.  Every later process (every rank of an
MPI run) then loads the code instead of compiling it.  A new machine,
container or CI job starts with an empty cache; ``nanomag warm`` fills it
with the kernels of the engines it names (all by default), on tiny devices,
with one progress line per engine.  The cache is keyed by the CPU and the
numba version: on a cluster with a shared ``NUMBA_CACHE_DIR``, warm it once
per CPU type (docs/parallel.md, "Cold start: the numba cache").
"""

from __future__ import annotations

import json
import time
from typing import Any

__all__ = ["WARMUPS", "add_warm_command", "cache_dir", "run_warm", "warm"]


def _device(S0: int = 6):
    from ..model.device import Device, Grain, Lead

    unit = 8 * S0 * 0.01
    grain = Grain(S0=S0, eta=1, kappa=1.0, h=-0.4, eps=0.0, alpha=0.01, T=0.05)
    leads = (Lead(mu=3.0, gamma_up=4.5 * unit, gamma_down=1.5 * unit, name="left"),
             Lead(mu=-3.0, gamma_up=1.5 * unit, gamma_down=4.5 * unit, name="right"))
    return Device(grain=grain, leads=leads)


def _pulse():
    from ..model.protocol import Protocol, Segment

    return Protocol((Segment(2.0, mu={"left": 3.0, "right": -3.0}), Segment(1.0, mu={"left": -3.0, "right": -3.0})))


def _ramp():
    from ..model.protocol import Protocol, Segment

    return Protocol((Segment(2.0, ramp={"h": (-0.4, 0.4)}),))  # a gentle sweep: few nodes to build


def _threads() -> int:
    import numba

    return 4 * numba.get_num_threads()  # enough trajectories for the threaded kernels (see nanomag.kmc)


def _kmc():
    from .. import kmc

    dev = _device()
    for n in (1, _threads()):  # the serial and the threaded kernels
        kmc.first_passage(dev, -0.8, 0.8, n_traj=n, seed=1)
        kmc.trajectories(dev, -0.8, [0.0, 1.0], n_traj=n, seed=1)
        kmc.first_passage(dev, -0.8, 0.8, n_traj=n, seed=1, protocol=_pulse(), t_max=50.0)
        kmc.trajectories(dev, -0.8, [0.0, 1.0], n_traj=n, seed=1, protocol=_pulse())
        kmc.first_passage(dev, -0.8, 0.8, n_traj=n, seed=1, protocol=_ramp(), t_max=50.0)  # the thinning kernels
    kmc.write_error_rate(dev, _pulse(), -1.0, 0.8, n_traj=2, seed=1, t_max=50.0)


def _telegraph():
    from .. import exact, kmc
    from ..model.device import Device, Grain, Lead

    grain = Grain(S0=2, eta=1, kappa=1.0, h=0.1, eps=0.0, alpha=0.1, T=1.0)  # a low barrier: dwells of ~ 10 events
    dev = Device(grain=grain, leads=(Lead(mu=0.8, gamma_up=0.6, gamma_down=0.2, name="left"),
                                     Lead(mu=-0.8, gamma_up=0.2, gamma_down=0.6, name="right")))
    exact.telegraph(dev)
    for n in (1, _threads()):
        kmc.telegraph(dev, 5000.0, n_traj=n, seed=1, window=500.0, grid_dt=1.0, nperseg=64)


def _exact():
    from .. import exact

    dev = _device()
    exact.mfpt(dev, -0.8, 0.8)
    exact.stationary(dev)
    exact.first_passage_distribution(dev, -0.8, 0.8, [0.0, 1.0, 2.0])
    exact.write_error_rate(dev, _pulse(), -1.0, 0.8)


def _langevin():
    from .. import continuum

    dev = _device(50)
    for coefficients in ("table", "exact"):
        continuum.langevin_first_passage(dev, -0.8, 0.8, n_traj=2, seed=1, dt=1e-2, t_max=1.0,
                                         coefficients=coefficients)
        continuum.langevin_trajectories(dev, -0.8, [0.5, 1.0], n_traj=2, seed=1, dt=1e-2,
                                        coefficients=coefficients)


def _fokker_planck():
    from .. import continuum

    continuum.FokkerPlanck(_device(50), form="flux", n_cells=64).mfpt(-0.8, 0.8)


def _phase():
    from .. import phase

    phase.nmd_phase_diagram((4.5, 1.5, 1.5, 4.5), [1.0, 3.0], [-0.2, 0.2])
    phase.device_phase_diagram(_device(50), [2.0, 3.0], [-0.4, 0.0])


def _rare():
    from .. import rare

    dev = _device(10)
    rare.switching_rate(dev, -0.8, 0.8, seed=1, rtol=1.0, trials=4, launches=4)
    rare.write_error_rate(dev, _pulse(), -1.0, 0.8, seed=1, rtol=1.0, walkers=2, steps=2, min_replicas=2)


def _spectroscopy():
    from .. import spectroscopy

    spectroscopy.point_current(_device(), 0.0, [0.5, 1.0])


#: engine -> (what it compiles, the calls that compile it), in the order ``nanomag warm`` runs them
WARMUPS = {
    "kmc": ("KMC first passage, records and protocols (serial and threaded)", _kmc),
    "telegraph": ("telegraph statistics (exact and KMC)", _telegraph),
    "exact": ("exact master equation: MFPT, stationary, distributions, WER", _exact),
    "langevin": ("Langevin first passage and paths (table and exact coefficients)", _langevin),
    "fokker-planck": ("Fokker-Planck solver", _fokker_planck),
    "phase": ("phase diagrams", _phase),
    "rare": ("forward flux sampling and the weighted ensemble", _rare),
    "spectroscopy": ("spectroscopy currents", _spectroscopy),
}


def cache_dir() -> str:
    """The folder where numba keeps the compiled kernels: ``NUMBA_CACHE_DIR``, else the KMC kernels' own."""
    import numba

    chosen = getattr(numba.config, "CACHE_DIR", "")
    if chosen:
        return str(chosen)
    from ..kmc import engine

    kernel: Any = engine.K.protocol_first_passage_serial
    cache = kernel._cache  # numba's cache of that kernel
    return str(cache._cache_path)  # beside the sources, or the user's cache folder


def warm(engines=None, progress=None) -> dict:
    """Compile the kernels of ``engines`` (names of :data:`WARMUPS`, default all) into the numba cache.

    ``progress(name, seconds)``, if given, is called after each engine.  Returns
    ``{engine: CPU seconds}`` (a warm cache gives a fraction of a second each).
    """
    names = list(WARMUPS) if not engines else list(engines)
    unknown = [n for n in names if n not in WARMUPS]
    if unknown:
        from ..errors import ConfigError

        raise ConfigError(f"engine: unknown {', '.join(unknown)}; choose from {', '.join(WARMUPS)}")
    out = {}
    for name in names:
        t0 = time.process_time()
        WARMUPS[name][1]()
        out[name] = time.process_time() - t0
        if progress is not None:
            progress(name, out[name])
    return out


def run_warm(args) -> int:
    """``nanomag warm [ENGINE ...] [--json]``."""
    names = list(WARMUPS) if not args.engines else args.engines
    width = max(len(n) for n in names)

    def progress(name, seconds):
        if not args.json:
            i = names.index(name) + 1
            print(f"[{i}/{len(names)}] {name:{width}s} {seconds:6.1f} s CPU  {WARMUPS[name][0]}", flush=True)

    times = warm(names, progress)
    where = cache_dir()
    if args.json:
        print(json.dumps({"cpu_seconds": times, "total": sum(times.values()), "cache_dir": where}))
    else:
        print(f"compiled in {sum(times.values()):.1f} s CPU; numba cache: {where}")
    return 0


def add_warm_command(sub) -> None:
    """Register ``nanomag warm`` on the subparsers ``sub``."""
    p = sub.add_parser("warm", help="compile the numba kernels into the cache (a new machine, container or job)")
    p.add_argument("engines", nargs="*", metavar="ENGINE",
                   help=f"engines to compile (default all): {', '.join(WARMUPS)}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_warm)
