"""The telegraph run kind and `nanomag noise --kmc` over 2 MPI ranks: the serial files, bit for bit."""

import h5py
import numpy as np
from test_noise_cli import DEVICE, RUN

import nanomag as nm
from nanomag.cli.main import main
from nanomag.io.kinds import RUN_KINDS
from nanomag.run.parallel import run_ensemble


def _config(shared_dir, comm):
    path = shared_dir / "tele.toml"
    if comm.Get_rank() == 0:
        path.write_text(DEVICE + RUN)
    comm.Barrier()
    return path


def test_telegraph_run_over_two_ranks_is_the_serial_file(comm, shared_dir):
    path = _config(shared_dir, comm)
    cfg = nm.read_config(path)
    summary = run_ensemble(cfg, shared_dir / "mpi.h5", quiet=True, comm=comm)
    if comm.Get_rank() == 0:
        assert summary.n_ranks == 2
        run_ensemble(cfg, shared_dir / "serial.h5", quiet=True, comm=None)
        with h5py.File(shared_dir / "mpi.h5") as a, h5py.File(shared_dir / "serial.h5") as b:
            assert set(a["chunks/rank"][...]) == {0, 1}, "both ranks must compute"
            names = [f"telegraph/{d.name}" for d in RUN_KINDS["telegraph"].datasets]
            for name in names + ["telegraph/freq", "chunks/event_counts", "chunks/done"]:
                np.testing.assert_array_equal(a[name][...], b[name][...], err_msg=name)
    comm.Barrier()


def test_noise_kmc_over_two_ranks_writes_the_serial_summary(comm, shared_dir):
    path = _config(shared_dir, comm)
    out = shared_dir / "noise_mpi.h5"
    assert main(["noise", str(path), "--out", str(out), "--kmc", "--quiet"]) == 0
    if comm.Get_rank() == 0:
        serial = shared_dir / "noise_serial.h5"
        direct = nm.kmc.telegraph(nm.read_config(path).device, 20000.0, n_traj=6, seed=11, window=2000.0,
                                  grid_dt=2.0, nperseg=256)
        with h5py.File(out) as h5:
            assert h5["kmc/dwell_up"][()] == direct.mean_dwell("up")[0]
            np.testing.assert_array_equal(h5["kmc/psd_u"][...], direct.spectrum()[1][1:])
        assert not serial.exists()
    comm.Barrier()
