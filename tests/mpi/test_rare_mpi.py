"""Rare events over 2 MPI ranks: the same answer, bit for bit, as a serial run; refusals reach every rank."""

import numpy as np
import pytest
from test_rare import CHEAP_TOML

import nanomag as nm
from nanomag.io.rare import RareSpec
from nanomag.rare import switching_rate
from nanomag.run.parallel import mpi_map
from nanomag.run.rare import run_rare


def _config(shared_dir, comm):
    path = shared_dir / "cheap.toml"
    if comm.Get_rank() == 0:
        path.write_text(CHEAP_TOML)
    comm.Barrier()
    return nm.read_config(path)


def test_switching_rate_over_two_ranks_equals_serial(comm, shared_dir):
    cfg = _config(shared_dir, comm)
    serial = switching_rate(cfg.device, -0.8, 0.8, seed=9, rtol=0.07)  # every rank, alone
    spread = switching_rate(cfg.device, -0.8, 0.8, seed=9, rtol=0.07, map_fn=mpi_map(comm))
    assert spread.n_replicas > spread.n_first  # a second stage ran too
    assert spread.mfpt == serial.mfpt and spread.ci == serial.ci and spread.n_events == serial.n_events
    np.testing.assert_array_equal(spread.replica_weight, serial.replica_weight)


def test_file_run_over_two_ranks_equals_serial(comm, shared_dir):
    cfg = _config(shared_dir, comm)
    spec = RareSpec(start_u=-0.8, target_u=0.8, seed=5, rtol=0.1)
    est = run_rare(cfg, shared_dir / "mpi.h5", spec=spec, quiet=True, comm=comm, map_fn=mpi_map(comm))
    if comm.Get_rank() == 0:
        from nanomag.io.rare import read_rare

        alone = run_rare(cfg, shared_dir / "serial.h5", spec=spec, quiet=True)
        back = read_rare(shared_dir / "mpi.h5")
        for other in (alone, back):
            assert other.mfpt == est.mfpt and other.ci == est.ci and other.n_events == est.n_events
            np.testing.assert_array_equal(other.n_success, est.n_success)
    comm.Barrier()


def test_refusal_reaches_every_rank(comm, shared_dir):
    cfg = _config(shared_dir, comm)
    out = shared_dir / "exists.h5"
    if comm.Get_rank() == 0:
        out.write_bytes(b"not mine")
    comm.Barrier()
    with pytest.raises(nm.ConfigError, match="exists"):
        run_rare(cfg, out, spec=RareSpec(start_u=-0.8, target_u=0.8, seed=5), quiet=True, comm=comm,
                 map_fn=mpi_map(comm))
    comm.Barrier()
    if comm.Get_rank() == 0:
        assert out.read_bytes() == b"not mine"


def test_write_error_rate_over_two_ranks_equals_serial(comm):
    from test_rare import FAST_WE, PULSE_TOML

    cfg = nm.io.config.parse_config(PULSE_TOML)
    serial = nm.rare.write_error_rate(cfg.device, cfg.protocol, -1.0, 0.8, seed=6, rtol=0.2, **FAST_WE)
    spread = nm.rare.write_error_rate(cfg.device, cfg.protocol, -1.0, 0.8, seed=6, rtol=0.2, map_fn=mpi_map(comm),
                                      **FAST_WE)
    assert spread.wer == serial.wer and spread.ci == serial.ci and spread.n_events == serial.n_events
    np.testing.assert_array_equal(spread.replica_wer, serial.replica_wer)
