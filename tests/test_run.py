"""`nanomag run`: the HDF5 layout, refusals, and a real SIGKILL followed by --resume (serial and MPI)."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from processes import clean_env, tagged_processes

import nanomag as nm
from nanomag.cli import main

from devices import RUNS

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def config_text(n_traj=600, seed=17, kind="first_passage", chunk=None):
    text = (RUNS / "switching.toml").read_text().split("[run]")[0]
    if kind == "first_passage":
        text += f'[run]\nkind = "first_passage"\nstart_u = -0.8\ntarget_u = 0.8\nn_traj = {n_traj}\nseed = {seed}\n'
    else:
        text += (f'[run]\nkind = "trajectories"\nstart_u = -0.8\nt_final = 60.0\nn_times = 7\n'
                 f'n_traj = {n_traj}\nseed = {seed}\n')
    if chunk:
        text += f"chunk_size = {chunk}\n"
    return text


def write_config(tmp_path, name="run.toml", **kw):
    path = tmp_path / name
    path.write_text(config_text(**kw))
    return path


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_run_writes_the_api_layout_and_matches_the_library(tmp_path, capsys):
    cfg_path = write_config(tmp_path, n_traj=300, chunk=64)
    out = tmp_path / "out.h5"
    assert main(["run", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "mean switching time (KMC)" in text and "exact master equation" in text
    cfg = nm.read_config(cfg_path)
    direct = nm.kmc.first_passage(cfg.device, -0.8, 0.8, n_traj=300, seed=17)
    with h5py.File(out, "r") as h5:
        assert h5.attrs["config_toml"] == cfg.text
        assert h5.attrs["seed"] == 17 and h5.attrs["nanomag_version"]
        assert h5.attrs["status"] == "complete"
        np.testing.assert_array_equal(h5["first_passage/times"][...], direct.times)
        np.testing.assert_array_equal(h5["first_passage/n_events"][...], direct.events_per_trajectory)
        np.testing.assert_array_equal(h5["chunks/event_counts"][...].sum(axis=0), direct.event_counts)
        assert h5["first_passage/times"].attrs["units"] == "hbar/energy"
        device = json.loads(h5.attrs["device"])
        assert device["grain"]["S0"] == 1000 and device["units"]["kappa"] == "energy"
        versions = json.loads(h5.attrs["versions"])
        assert {"numpy", "numba", "h5py"} <= set(versions)
        assert h5["chunks/done"][...].all() and h5.attrs["wall_time"] > 0
        assert h5.attrs["rank_events"].sum() == direct.n_events


def test_trajectory_runs_store_u_and_charge(tmp_path):
    cfg_path = write_config(tmp_path, kind="trajectories", n_traj=50)
    out = tmp_path / "traj.h5"
    assert main(["run", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    cfg = nm.read_config(cfg_path)
    direct = nm.kmc.trajectories(cfg.device, -0.8, np.linspace(0, 60, 7), n_traj=50, seed=17)
    with h5py.File(out, "r") as h5:
        np.testing.assert_array_equal(h5["trajectories/u"][...], direct.u)
        np.testing.assert_array_equal(h5["trajectories/charge"][...], direct.charge)
        np.testing.assert_array_equal(h5["trajectories/transferred"][...], direct.transferred)
        np.testing.assert_array_equal(h5["trajectories/times"][...], np.linspace(0, 60, 7))


def test_existing_file_and_mismatched_resume_are_refused_untouched(tmp_path, capsys):
    cfg_path = write_config(tmp_path, n_traj=100)
    out = tmp_path / "out.h5"
    assert main(["run", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    before = digest(out)
    assert main(["run", str(cfg_path), "--out", str(out), "--quiet"]) == 2
    assert "exists; use --resume" in capsys.readouterr().err
    other_seed = write_config(tmp_path, name="seed.toml", n_traj=100, seed=18)
    assert main(["run", str(other_seed), "--out", str(out), "--resume", "--quiet"]) == 2
    assert "another run" in capsys.readouterr().err
    other_cfg = tmp_path / "cfg.toml"
    other_cfg.write_text(config_text(n_traj=100).replace("alpha = 0.01", "alpha = 0.02"))
    assert main(["run", str(other_cfg), "--out", str(out), "--resume", "--quiet"]) == 2
    assert "configuration text differs" in capsys.readouterr().err
    assert digest(out) == before
    assert main(["run", str(cfg_path), "--out", str(out), "--resume", "--quiet"]) == 0  # nothing left to do
    capsys.readouterr()
    with h5py.File(out, "r") as h5:
        assert h5.attrs["status"] == "complete"


def _launch(cmd, env=None):
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env=env)


def _done_chunks(path):
    try:
        with h5py.File(path, "r", locking=False) as h5:
            return int(h5["chunks/done"][...].sum()), h5["chunks/done"].shape[0]
    except (OSError, KeyError):
        return 0, None


def _kill_job(tag):
    pids = tagged_processes(tag)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # wait until every one of them has exited (a zombie has released its files); a dying process
    # loses its environ and cmdline before it releases its files, so do not search by tag again
    for _ in range(1000):
        if not any(_alive(p) for p in pids):
            return
        time.sleep(0.01)
    pytest.fail("processes of the killed job survived")


def _holders(path):
    """(pid, state, command) of the processes that have ``path`` open."""
    target, found = str(Path(path).resolve()), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                    found.append((entry.name, (entry / "stat").read_text().rsplit(")", 1)[1].split()[0],
                                  (entry / "cmdline").read_bytes()[:80]))
            except OSError:
                continue
    return found


def _open_when_unlocked(path, timeout=10.0):
    """Open for reading once the kernel has dropped the killed writer's flock (it does so shortly after exit)."""
    t0 = time.time()
    while True:
        try:
            return h5py.File(path, "r")
        except BlockingIOError:
            if time.time() - t0 > timeout:
                raise
            time.sleep(0.05)


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill_after_some_chunks(proc, out, tag, minimum=3, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        done, total = _done_chunks(out)
        if done >= minimum:
            _kill_job(tag)  # SIGKILL to mpiexec and every rank at once
            proc.wait()
            return done, total
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    pytest.fail("no chunk was written in time")


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [1, 2], ids=["serial", "mpiexec-n2"])
def test_sigkill_then_resume_gives_the_uninterrupted_file(tmp_path, ranks):
    if ranks > 1 and MPIEXEC is None:
        pytest.fail("mpiexec not found: install the mpich wheel (pip install -e '.[test]')")
    cfg_path = write_config(tmp_path, n_traj=24_000, chunk=100)
    reference = tmp_path / "reference.h5"
    assert main(["run", str(cfg_path), "--out", str(reference), "--quiet"]) == 0

    out = tmp_path / "killed.h5"
    nanomag = [sys.executable, "-m", "nanomag.cli", "run", str(cfg_path), "--out", str(out), "--quiet"]
    launcher = [MPIEXEC, "-n", str(ranks)] if ranks > 1 else []
    env = clean_env()
    tag = f"NANOMAG_KILL_TEST={os.getpid()}-{ranks}-{time.time_ns()}"
    env[tag.split("=")[0]] = tag.split("=")[1]
    proc = _launch(launcher + nanomag, env)
    done, total = _kill_after_some_chunks(proc, out, tag)
    assert proc.returncode == -signal.SIGKILL or proc.returncode != 0
    done_after, _ = _done_chunks(out)
    assert 0 < done_after < total, "the run was not interrupted part-way"
    assert not _holders(out), f"still open by {_holders(out)}"
    with _open_when_unlocked(out) as h5:
        assert h5.attrs["status"] == "running"

    del env[tag.split("=")[0]]
    resumed = subprocess.run(launcher + nanomag + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    with h5py.File(out, "r") as h5, h5py.File(reference, "r") as ref:
        assert h5.attrs["status"] == "complete"
        for name in ("first_passage/times", "first_passage/censored", "first_passage/n_events",
                     "chunks/event_counts", "chunks/done"):
            np.testing.assert_array_equal(h5[name][...], ref[name][...], err_msg=name)
        # chunks done before the kill were not recomputed
        assert np.isfinite(h5["chunks/wall_time"][...]).all()


def test_unreachable_target_is_refused_before_any_file_is_written(tmp_path, capsys):
    # no leads and a T = 0 bath with h < 0: S_z can only go down, u = +0.8 is never reached
    full = config_text(n_traj=10)
    text = full.split("[[leads]]")[0].replace("T = 0.05", "T = 0.0") + "[run]" + full.split("[run]")[1]
    path = tmp_path / "trapped.toml"
    path.write_text(text)
    out = tmp_path / "never.h5"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    assert "no sequence of transitions" in capsys.readouterr().err
    assert not out.exists()


def test_astronomical_switching_time_is_refused_without_t_max_and_censored_with_it(tmp_path, capsys):
    # one full lead: the grain stays charged and only the bath can flip the S0 = 1000 spin against h
    full = config_text(n_traj=50)
    grain, run = full.split("[[leads]]")[0], full.split("[run]")[1]
    lead = '[[leads]]\nname = "left"\nmu = 3.0\ngamma_up = 36.0\ngamma_down = 12.0\n\n'
    path = tmp_path / "stuck.toml"
    path.write_text(grain + lead + "[run]" + run)
    out = tmp_path / "stuck.h5"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    assert "overflows double precision; set [run] t_max" in capsys.readouterr().err
    assert not out.exists()
    path.write_text(grain + lead + "[run]\nt_max = 50.0" + run)
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert "no trajectory reached the target before t_max = 50" in capsys.readouterr().out
    with h5py.File(out, "r") as h5:
        assert h5["first_passage/censored"][...].all()


def test_censored_summary_compares_the_survival_with_the_exact_one(tmp_path, capsys):
    text = (RUNS / "small_switching.toml").read_text().replace("[run]", "[run]\nt_max = 38.0")
    path = tmp_path / "censored.toml"
    path.write_text(text.replace("n_traj = 20000", "n_traj = 4000"))
    assert main(["run", str(path), "--out", str(tmp_path / "c.h5"), "--quiet"]) == 0
    text = capsys.readouterr().out
    z = float(text.split("P(tau > t_max) (exact master equation) = ")[1].split("z = ")[1].split(")")[0])
    assert abs(z) < 4
