"""Start-up: ``import nanomag`` and each command import only what they use (PEP 562 lazy submodules)."""

import json
import subprocess
import sys
from pathlib import Path

import nanomag as nm

ROOT = Path(__file__).resolve().parents[1]


def _loaded(code: str) -> set:
    """Top modules (and a few nanomag ones) loaded in a fresh interpreter after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('scipy', 'numba', 'h5py', 'matplotlib', 'xarray', 'tqdm', 'mpi4py') or m.startswith('nanomag.'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                         timeout=120).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_nanomag_loads_no_engine_and_no_heavy_package():
    loaded = _loaded("import nanomag")
    heavy = {m.split(".")[0] for m in loaded if not m.startswith("nanomag.")}
    assert not heavy, heavy
    engines = {"nanomag.exact", "nanomag.kmc", "nanomag.continuum", "nanomag.phase", "nanomag.spectroscopy",
               "nanomag.io.ensemble", "nanomag.io.wer", "nanomag.markov", "nanomag.pulse", "nanomag.rare"}
    assert not loaded & engines, loaded & engines
    assert "nanomag.io.config" in loaded  # load_config and read_config are eager: they are cheap


def test_submodules_load_on_first_use():
    for name in ("exact", "kmc", "continuum", "phase", "spectroscopy", "io", "markov", "rates", "pulse", "rare"):
        assert name in nm.__all__ and name in dir(nm)
        assert getattr(nm, name).__name__.startswith("nanomag.")
    assert nm.rates is nm.markov.rates
    assert nm.load_config is nm.io.config.load_config and nm.read_config is nm.io.config.read_config
    assert nm.io.read_ensemble is nm.io.ensemble.read_ensemble and "EnsembleFile" in dir(nm.io)
    from nanomag import exact, kmc

    assert exact.mfpt is nm.exact.mfpt and kmc.first_passage is nm.kmc.first_passage
    assert set(nm.__all__) <= set(dir(nm))
    try:
        nm.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")


def test_the_command_line_parser_loads_no_continuum_scipy_sparse_or_matplotlib():
    loaded = _loaded("from nanomag.cli.main import build_parser\nbuild_parser()")
    for module in ("nanomag.continuum", "nanomag.phase", "scipy.sparse", "matplotlib", "nanomag.viz"):
        assert module not in loaded, module


def test_a_kmc_run_needs_no_scipy_sparse():
    loaded = _loaded("import nanomag as nm\n"
                     "dev = nm.read_config('runs/small_switching.toml').device\n"
                     "nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=4, seed=1)\n"
                     "nm.kmc.first_passage(dev, -0.8, 0.8, n_traj=4, seed=1, t_max=1.0)")
    assert "scipy.sparse" not in loaded and "nanomag.continuum" not in loaded
