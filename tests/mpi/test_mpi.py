"""Ensembles over 2 MPI ranks: identical to the serial file, and refusals reach every rank."""

import hashlib

import h5py
import numpy as np
import pytest

import nanomag as nm
from nanomag.run.parallel import run_ensemble

from test_run import config_text


def _config(shared_dir, comm, name, **kw):
    path = shared_dir / name
    if comm.Get_rank() == 0:
        path.write_text(config_text(**kw))
    comm.Barrier()
    return nm.read_config(path)


def test_two_ranks_write_the_serial_file(comm, shared_dir):
    cfg = _config(shared_dir, comm, "fp.toml", n_traj=900, chunk=40)
    out_mpi, out_serial = shared_dir / "mpi.h5", shared_dir / "serial.h5"
    summary = run_ensemble(cfg, out_mpi, quiet=True, comm=comm)
    if comm.Get_rank() == 0:
        assert summary.n_ranks == 2 and len(summary.rank_busy) == 2
        assert all(b > 0 for b in summary.rank_busy), "both ranks must compute"
        run_ensemble(cfg, out_serial, quiet=True, comm=None)
        with h5py.File(out_mpi, "r") as a, h5py.File(out_serial, "r") as b:
            for name in ("first_passage/times", "first_passage/censored", "first_passage/n_events",
                         "chunks/event_counts", "chunks/done"):
                np.testing.assert_array_equal(a[name][...], b[name][...], err_msg=name)
            ranks = a["chunks/rank"][...]
            assert set(ranks) == {0, 1}
            assert a.attrs["status"] == "complete" and a.attrs["n_ranks"] == 2
    comm.Barrier()


def test_trajectory_runs_over_two_ranks(comm, shared_dir):
    cfg = _config(shared_dir, comm, "traj.toml", kind="trajectories", n_traj=60, chunk=7)
    out = shared_dir / "traj.h5"
    run_ensemble(cfg, out, quiet=True, comm=comm)
    if comm.Get_rank() == 0:
        direct = nm.kmc.trajectories(cfg.device, -0.8, np.linspace(0, 60, 7), n_traj=60, seed=17)
        with h5py.File(out, "r") as h5:
            np.testing.assert_array_equal(h5["trajectories/u"][...], direct.u)
            np.testing.assert_array_equal(h5["trajectories/transferred"][...], direct.transferred)
    comm.Barrier()


def test_mismatched_resume_is_refused_on_every_rank_and_the_file_untouched(comm, shared_dir):
    cfg = _config(shared_dir, comm, "a.toml", n_traj=120, chunk=40)
    out = shared_dir / "a.h5"
    run_ensemble(cfg, out, quiet=True, comm=comm)
    digest = hashlib.sha256(out.read_bytes()).hexdigest() if comm.Get_rank() == 0 else None
    other = _config(shared_dir, comm, "b.toml", n_traj=120, chunk=40, seed=99)
    with pytest.raises(nm.ConfigError, match="another run"):
        run_ensemble(other, out, resume=True, quiet=True, comm=comm)
    comm.Barrier()
    if comm.Get_rank() == 0:
        assert hashlib.sha256(out.read_bytes()).hexdigest() == digest


def test_spectroscopy_maps_split_over_ranks_equal_the_serial_map(comm):
    from nanomag.run.parallel import mpi_map
    from nanomag.spectroscopy import current_map

    from test_run import RUNS

    dev = nm.load_config(RUNS / "fig3_spectroscopy.toml")
    vg, vbias = np.linspace(-0.5, 0.5, 5), np.linspace(0.0, 2.0, 7)
    split = current_map(dev, vg, vbias, map_fn=mpi_map(comm))
    np.testing.assert_array_equal(split, current_map(dev, vg, vbias))
