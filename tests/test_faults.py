"""Faults injected into ``nanomag run``: nothing finished is lost, nothing is left stuck.

* SIGINT, SIGTERM and SIGKILL at random moments (a fixed seed), serially and under
  ``mpiexec -n 2``, during create, run and resume: after every fault each chunk marked
  done equals the uninterrupted run's chunk bit for bit, the count of finished chunks
  never goes down, an interrupt exits within ~2 s with 130/143 and one line, and the
  file finally resumed equals the uninterrupted one;
* an interrupt in the middle of a long chunk (the numba kernel runs in sub-blocks);
* a kill and an interrupt while the file is being created (``FILE.partial``);
* a full disk (a small tmpfs when it can be mounted, else a file size limit), a write
  that fails in the middle of a run, and a read-only file system;
* concurrent runs on one file: ``--force``, ``--resume`` and another command's
  ``--out --force`` never touch the file of a live run;
* a run that could never end (S0 = 5.1e5, above the old 2e6-state cut-off) is refused,
  and Ctrl-C stops its check.

The numbered cases of the issue are named in the docstrings.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
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

from nanomag.cli import main

from devices import RUNS

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
NANOMAG = [sys.executable, "-m", "nanomag.cli"]
DATASETS = ("first_passage/times", "first_passage/censored", "first_passage/n_events", "chunks/event_counts",
            "chunks/done")
FAULTS = {"injected": 0}  # counted for docs/reliability.md (printed by conftest's terminal summary)


def config_text(n_traj=20_000, chunk=200, extra=""):
    text = (RUNS / "switching.toml").read_text().split("[run]")[0]
    text += (f'[run]\nkind = "first_passage"\nstart_u = -0.8\ntarget_u = 0.8\nn_traj = {n_traj}\nseed = 99\n'
             + (f"chunk_size = {chunk}\n" if chunk else "") + extra)
    return text


def job_env(tag=None):
    env = clean_env()
    env.pop("NANOMAG_TRACEBACK", None)
    if tag:
        env["NANOMAG_FAULT_TEST"] = tag
    return env


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run (in-process), and its config."""
    tmp = tmp_path_factory.mktemp("faults")
    cfg = tmp / "run.toml"
    cfg.write_text(config_text())
    ref = tmp / "reference.h5"
    assert main(["run", str(cfg), "--out", str(ref), "--quiet"]) == 0
    return cfg, ref


def read(path) -> dict:
    """The datasets of a file, live or not: ``chunks/done`` first (a writer marks a chunk done after its data)."""
    with h5py.File(path, "r", locking=False) as h5:
        return {name: h5[name][...] for name in reversed(DATASETS)} | {
            "status": h5.attrs["status"], "chunk_size": int(h5.attrs["chunk_size"])}


def nothing_lost(path, ref) -> int:
    """Every chunk marked done in ``path`` equals the reference's, bit for bit; returns the count done."""
    path = Path(path)
    if not path.exists():
        return 0
    got, want = read(path), read(ref)
    done = got["chunks/done"]
    size = got["chunk_size"]
    for c in np.flatnonzero(done):
        rows = slice(c * size, (c + 1) * size)
        for name in DATASETS[:3]:
            np.testing.assert_array_equal(got[name][rows], want[name][rows], err_msg=f"{name}, chunk {c}")
        np.testing.assert_array_equal(got["chunks/event_counts"][c], want["chunks/event_counts"][c])
    return int(done.sum())


def same_as_reference(path, ref) -> None:
    got, want = read(path), read(ref)
    assert got["status"] == "complete"
    for name in DATASETS:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def launch(args, ranks=1, tag=None, **kw):
    cmd = ([MPIEXEC, "-n", str(ranks)] if ranks > 1 else []) + NANOMAG + [str(a) for a in args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=job_env(tag), **kw)


def deliver(proc, sig, *, tag=None, to="group"):
    """Send ``sig``: to the job's process group (Ctrl-C, SLURM), to the launcher only, or (SIGKILL under MPI)
    to every process of the job, wherever the launcher put it."""
    FAULTS["injected"] += 1
    if sig == signal.SIGKILL and tag:
        for pid in tagged_processes(tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return
    with contextlib.suppress(ProcessLookupError):
        if to == "group":
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)


def finish(proc, timeout=60.0):
    """(exit status, stderr, seconds until exit)."""
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the job did not stop within {timeout} s")
    return proc.returncode, err, time.monotonic() - t0


def own_lines(stderr: str) -> list[str]:
    """stderr without the MPI launcher's own chatter ('[mpiexec@host] Sending Ctrl-C ...')."""
    return [line for line in stderr.strip().splitlines() if line and not line.startswith(("[mpiexec@", "[proxy:"))]


def wait_for(condition, timeout=60.0, proc=None):
    t0 = time.monotonic()
    while not condition():
        if proc is not None and proc.poll() is not None:
            return False
        if time.monotonic() - t0 > timeout:
            pytest.fail("timed out waiting for the job")
        time.sleep(0.005)
    return True


def _mtime(path) -> int | None:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return None


def _text(path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def check_interrupt(status, stderr, seconds, sig, *, limit=2.5):
    assert "Traceback" not in stderr and "Assertion" not in stderr and "error on rank" not in stderr, stderr
    assert status == 128 + sig, (status, stderr)
    lines = own_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("nanomag: interrupted"), stderr
    assert seconds < limit, f"took {seconds:.2f} s to stop"
    return lines[0]


def _job_cpu(tag) -> float:
    """CPU seconds (user + system) spent so far by the live processes of the job tagged ``tag``."""
    ticks = 0
    for pid in tagged_processes(tag):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU seconds of this process's finished (and waited-for) children and their descendants."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------------------ random moments

def _random_faults(tmp_path, reference, ranks, n_faults, seed):
    """case 9: signals at random moments during create, run and resume; nothing finished is ever lost."""
    cfg, ref = reference
    rng = random.Random(seed)
    out = tmp_path / "faulty.h5"
    lock = Path(str(out) + ".lock")
    done_before, seen = 0, []
    for i in range(n_faults):
        sig = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
        to = rng.choice(["group", "launcher"]) if ranks > 1 else "group"
        tag = f"{os.getpid()}-{ranks}-{i}-{time.time_ns()}"
        args = ["run", cfg, "--out", out, "--quiet"] + (["--resume"] if out.exists() else [])
        stale, written = _text(lock), _mtime(out)  # a SIGKILLed run leaves its sidecar (not its flock) behind
        proc = launch(args, ranks, tag)
        # the moment: as the run takes its file (create or reopen), or a random time into the chunks
        def taken(stale=stale, written=written):
            return (lock.exists() and _text(lock) != stale) or _mtime(out) != written

        wait_for(taken, proc=proc)
        if rng.random() > 0.25:
            time.sleep(rng.uniform(0.0, 0.6))
        deliver(proc, sig, tag=tag, to=to)
        status, err, seconds = finish(proc)
        seen.append((sig.name, to, status))
        # -sig: SIGKILL always; SIGINT/SIGTERM when it met the run on its way out (+sig: mpiexec's own status when
        # the signal reached it as its ranks ended).  A run SIGKILLed after taking its lock but before creating its
        # file leaves no file
        finished = status == 0 or (status in (-sig, sig) and out.exists() and read(out)["status"] == "complete")
        if finished:  # it finished before the signal (or the signal met it on its way out): check it, start over
            same_as_reference(out, ref)
            out.unlink()
            done_before = 0
            continue
        if sig == signal.SIGKILL:
            assert status != 0
        else:
            check_interrupt(status, err, seconds, sig, limit=3.5 if ranks > 1 else 2.5)
        t0 = time.monotonic()  # the launcher's proxies and the ranks leave a moment after it
        while tagged_processes(tag) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert not tagged_processes(tag), "a process of the job survived"
        assert not (tmp_path / "faulty.h5.partial").exists() or sig == signal.SIGKILL
        done = nothing_lost(out, ref)
        assert done >= done_before, f"finished chunks were lost: {done_before} -> {done}"
        done_before = done
    status, err, _ = finish(launch(["run", cfg, "--out", out, "--quiet", "--resume"], ranks), timeout=300)
    assert status == 0, err
    same_as_reference(out, ref)
    assert not lock.exists()
    return seen


def test_signals_at_random_moments_serial(tmp_path, reference):
    seen = _random_faults(tmp_path, reference, 1, 8, seed=1)
    assert sum(status != 0 for *_, status in seen) >= 4, seen


@pytest.mark.slow
def test_signals_at_random_moments_under_mpiexec(tmp_path, reference):
    if MPIEXEC is None:
        pytest.fail("mpiexec not found: install the mpich wheel (pip install -e '.[test]')")
    seen = _random_faults(tmp_path, reference, 2, 6, seed=2)
    assert sum(status != 0 for *_, status in seen) >= 3, seen


@pytest.mark.parametrize("ranks", [1, 2], ids=["serial", "mpiexec-n2"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_in_a_long_chunk_stops_within_seconds(tmp_path, ranks, sig):
    """case 9: Ctrl-C waited for the whole chunk (20 s), and SIGTERM (SLURM's time limit) gave no message."""
    if ranks > 1 and MPIEXEC is None:
        pytest.fail("mpiexec not found")
    cfg = tmp_path / "long.toml"
    cfg.write_text(config_text(n_traj=200_000, chunk=100_000))  # one chunk per rank: ~10 s of CPU each
    out = tmp_path / "long.h5"
    tag = f"{os.getpid()}-long-{ranks}-{int(sig)}-{time.time_ns()}"
    before = _children_cpu()
    proc = launch(["run", cfg, "--out", out, "--quiet"], ranks, tag=tag)
    wait_for(out.exists, proc=proc)
    # inside the first chunk: once the job has computed for 1 s of CPU per rank since the file appeared (on a
    # loaded machine this takes longer than 1 s of wall time; a fixed sleep raced against the set-up)
    cpu0, wall0 = _job_cpu(tag), time.monotonic()
    wait_for(lambda: _job_cpu(tag) - cpu0 >= ranks * 1.0, timeout=120.0, proc=proc)
    cpu_at_signal = _job_cpu(tag)
    share = (cpu_at_signal - cpu0) / ranks / (time.monotonic() - wall0)  # cores' worth each rank gets
    deliver(proc, sig, to="group" if sig == signal.SIGINT else "launcher")
    status, err, seconds = finish(proc)
    limit = 2.0 if ranks == 1 else 3.0
    # wall time stretches with the load (the job got ``share`` of a core per rank); the CPU the job spent after
    # the signal does not: a run that finished its chunk would spend ~9 s per rank
    line = check_interrupt(status, err, seconds * min(1.0, share), sig, limit=limit)
    assert _children_cpu() - before - cpu_at_signal < limit, "computed on after the signal"
    assert "after 0 of 2 chunks" in line and "--resume" in line
    with h5py.File(out, "r") as h5:
        assert h5.attrs["status"] == "running" and not h5["chunks/done"][...].any()


# ------------------------------------------------------------------------------------------ create

@pytest.mark.slow
def test_faults_while_the_file_is_created(tmp_path):
    """case 5: a file left by a failed create was stuck ("use --resume", then a KeyError forever)."""
    cfg = tmp_path / "big.toml"
    cfg.write_text(config_text(n_traj=6_000_000, chunk=None, extra="t_max = 0.001\n"))  # a 100 MB file
    out = tmp_path / "big.h5"
    partial = Path(str(out) + ".partial")
    for sig in (signal.SIGKILL, signal.SIGINT):
        stale = _mtime(partial)  # the SIGKILLed create leaves its FILE.partial behind
        proc = launch(["run", cfg, "--out", out, "--quiet"])
        if not wait_for(lambda stale=stale: _mtime(partial) not in (None, stale), proc=proc):
            pytest.fail(f"the create was over before it could be hit: {proc.communicate()[1]}")
        deliver(proc, sig)
        status, err, seconds = finish(proc)
        if out.exists():
            # the create had finished when the signal met it (a loaded machine; the create is one write per 64 KiB):
            # then the file under the final name must be whole (its chunk table written), never half-created
            with h5py.File(out, "r") as h5:
                assert "chunks/done" in h5 and h5.attrs["status"] in ("running", "complete"), \
                    "a half-created file was left under the final name"
            out.unlink()
            continue
        if sig == signal.SIGINT:
            line = check_interrupt(status, err, seconds, sig)
            assert "before any chunk" in line and not partial.exists()
    # the SLURM script resubmits with --resume: the missing file is started, and finished
    status, err, _ = finish(launch(["run", cfg, "--out", out, "--quiet", "--resume"]), timeout=300)
    assert status == 0, err
    with h5py.File(out, "r") as h5:
        assert h5.attrs["status"] == "complete" and h5["chunks/done"][...].all()
        assert h5["first_passage/censored"][...].all()
    assert not partial.exists()


def test_a_half_created_file_from_an_older_version_is_recreated(tmp_path, reference, capsys):
    """case 5: a file with the run's attributes but no chunk table (a create that died)."""
    cfg, ref = reference
    out = tmp_path / "half.h5"
    with h5py.File(out, "w") as h5:
        h5.attrs["config_toml"] = cfg.read_text()
        h5.attrs["seed"] = 99
        h5.attrs["status"] = "running"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "use --resume to recreate it" in capsys.readouterr().err
    assert main(["run", str(cfg), "--out", str(out), "--quiet", "--resume"]) == 0
    same_as_reference(out, ref)
    # a file that is not ours is never recreated
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["data"] = np.arange(3)
    assert main(["run", str(cfg), "--out", str(foreign), "--quiet", "--resume"]) == 2
    assert "not a nanomag ensemble file" in capsys.readouterr().err
    with h5py.File(foreign, "r") as h5:
        assert list(h5) == ["data"]


# ------------------------------------------------------------------------------------------ disk

@contextlib.contextmanager
def small_filesystem(path: Path, size: int):
    """A tmpfs of ``size`` bytes at ``path`` if this process may mount one, else None."""
    path.mkdir()
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "nanomag-test", str(path)],
                            capture_output=True).returncode == 0 if shutil.which("mount") else False
    except OSError:
        ok = False
    try:
        yield path if ok else None
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _size_limited(limit):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_limit


def test_a_full_disk_loses_nothing_and_the_run_resumes(tmp_path, reference):
    """case 5: a disk full at creation gave a 45-line traceback and a stuck file."""
    cfg, ref = reference
    size = os.path.getsize(ref)
    with small_filesystem(tmp_path / "small", size // 2) as mount:
        if mount is not None:  # a real full disk
            out, limit = mount / "full.h5", None
        else:  # fall back: a file size limit in the child (RLIMIT_FSIZE)
            out, limit = tmp_path / "full.h5", size // 2
        kw = {"preexec_fn": _size_limited(limit)} if limit else {}
        for extra, message in (([], "needs about"), (["--force-size"], "cannot create")):
            FAULTS["injected"] += 1
            status, err, _ = finish(launch(["run", cfg, "--out", out, "--quiet"] + extra, **kw))
            assert status == 2 and "Traceback" not in err, err
            lines = own_lines(err)
            assert len(lines) == 1 and message in lines[0], err
            assert not out.exists() and not Path(str(out) + ".partial").exists()
            assert not Path(str(out) + ".lock").exists()
        if mount is not None:
            subprocess.run(["mount", "-o", f"remount,size={4 * size}", str(mount)], check=True)
        status, err, _ = finish(launch(["run", cfg, "--out", out, "--quiet", "--resume"]), timeout=300)
        assert status == 0, err
        same_as_reference(out, ref)


def test_a_write_that_fails_mid_run_keeps_every_finished_chunk(tmp_path, reference, capsys, monkeypatch):
    """A full disk in the middle of a run (injected into the second batch of writes): one line, every chunk
    written before kept, resumable."""
    import errno
    import re

    from nanomag.io.ensemble import EnsembleFile

    cfg, ref = reference
    out = tmp_path / "midway.h5"
    real_write = EnsembleFile.write_chunks
    calls = {"n": 0}

    def failing_write(self, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, items)

    monkeypatch.setattr(EnsembleFile, "write_chunks", failing_write)
    FAULTS["injected"] += 1
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err and "--resume" in err, err
    done = int(re.search(r"after (\d+) of 100 chunks", err).group(1))
    assert done > 0 and nothing_lost(out, ref) == done
    monkeypatch.setattr(EnsembleFile, "write_chunks", real_write)
    assert main(["run", str(cfg), "--out", str(out), "--quiet", "--resume"]) == 0
    same_as_reference(out, ref)


def test_a_read_only_file_system_is_one_clear_line(tmp_path, capsys):
    """case 6: --out on a read-only file system gave a traceback."""
    cfg = tmp_path / "small.toml"
    cfg.write_text((RUNS / "small_switching.toml").read_text())
    with small_filesystem(tmp_path / "ro", 1 << 20) as mount:
        if mount is not None:
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
            place, reason = mount, "Read-only file system"
        elif os.geteuid() != 0:
            place, reason = tmp_path / "ro", "Permission denied"
            place.chmod(0o555)
        else:
            pytest.skip("cannot make a read-only place here (root without mount)")
        FAULTS["injected"] += 1
        for argv in (["run", cfg, "--out", place / "x.h5", "--quiet"],
                     ["spectroscopy", cfg, "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--out", place / "x.h5"],
                     ["phase", cfg, "--n-mu", "3", "--n-h", "3", "--out", place / "x.png"]):
            assert main([str(a) for a in argv]) == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and reason in err and "Traceback" not in err, err


# ------------------------------------------------------------------------------------------ concurrent runs

def test_the_file_of_a_live_run_is_never_touched(tmp_path, reference, capsys):
    """case 1: --force destroyed a file that another run was still writing; case 10: two --resume at once."""
    cfg, ref = reference
    out = tmp_path / "live.h5"
    proc = launch(["run", cfg, "--out", out, "--quiet"])
    wait_for(lambda: out.exists() and nothing_lost(out, ref) >= 2, proc=proc)
    # paused, the run stays live (it holds its lock) however fast it would otherwise finish: no race with the
    # attempts below, which a fast machine once lost (the run had ended before the second --resume started)
    proc.send_signal(signal.SIGSTOP)
    try:
        _attempt_to_touch_a_live_run(cfg, out, proc, capsys)
    finally:
        proc.send_signal(signal.SIGCONT)
    status, err, _ = finish(proc, timeout=300)
    assert status == 0, err
    same_as_reference(out, ref)
    # once the holder is gone (even killed), its lock does not block
    assert main(["run", str(cfg), "--out", str(out), "--quiet", "--force"]) == 0
    same_as_reference(out, ref)


def _attempt_to_touch_a_live_run(cfg, out, proc, capsys):
    attempts = [
        (["run", cfg, "--out", out, "--quiet"], "live run"),
        (["run", cfg, "--out", out, "--quiet", "--force"], "live run"),
        (["run", cfg, "--out", out, "--quiet", "--resume"], "live run"),
        (["spectroscopy", cfg, "--vg", "-1", "1", "2", "--vbias", "-1", "1", "2", "--out", out, "--force"],
         "live run"),
    ]
    for argv, message in attempts:
        FAULTS["injected"] += 1
        assert main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err
        assert proc.poll() is None, "the live run was disturbed"
    # a second process trying --resume at the same time (case 10: BlockingIOError traceback)
    status, err, _ = finish(launch(["run", cfg, "--out", out, "--quiet", "--resume"]))
    assert status == 2 and "live run" in err and len(own_lines(err)) == 1, err
    assert proc.poll() is None, "the live run was disturbed"


def test_a_killed_holder_leaves_no_lock_behind(tmp_path, reference):
    cfg, ref = reference
    out = tmp_path / "killed.h5"
    proc = launch(["run", cfg, "--out", out, "--quiet"])
    wait_for(lambda: out.exists() and nothing_lost(out, ref) >= 1, proc=proc)
    deliver(proc, signal.SIGKILL)
    finish(proc)
    assert Path(str(out) + ".lock").exists()  # a stale sidecar: its flock died with the process
    status, err, _ = finish(launch(["run", cfg, "--out", out, "--quiet", "--resume"]), timeout=300)
    assert status == 0, err
    same_as_reference(out, ref)
    assert not Path(str(out) + ".lock").exists()


# ------------------------------------------------------------------------------------------ a run that never ends

@pytest.mark.slow
def test_a_run_that_can_never_finish_is_refused_above_two_million_states(tmp_path):
    """case 4: switching.toml at S0 = 5.1e5 (2.04e6 states) with the rates swapped was accepted and ran forever;
    the solvability check used to stop above 2e6 states.  Ctrl-C during the check stops it too."""
    text = (RUNS / "switching.toml").read_text().replace("S0 = 1000 ", "S0 = 510000 ")
    left, right = "gamma_up = 360.0\ngamma_down = 120.0", "gamma_up = 120.0\ngamma_down = 360.0"
    text = text.replace(left, "@").replace(right, left).replace("@", right)  # torque against the switch
    cfg = tmp_path / "never.toml"
    cfg.write_text(text)
    out = tmp_path / "never.h5"
    refusal = time.monotonic()
    status, err, _ = finish(launch(["run", cfg, "--out", out, "--quiet"]), timeout=180)
    refusal = time.monotonic() - refusal
    assert status == 2 and "overflows double precision; set [run] t_max" in err and len(own_lines(err)) == 1, err
    assert not out.exists()
    startup = time.monotonic()
    finish(launch(["--version"]))
    startup = time.monotonic() - startup  # python and nanomag loaded
    # The load may change between runs, so the signal may land after the check has ended: the refusal is then
    # printed, and the SIGINT may still kill the exiting process (status 2 or -2).  That is correct behaviour
    # but tests nothing here: aim earlier and try again.  Only an interrupt during the check passes.
    for share in (0.5, 0.3, 0.15, 0.05):
        proc = launch(["run", cfg, "--out", out, "--quiet"])
        time.sleep(startup + share * (refusal - startup))  # during the check of the 2e6-state chain
        if proc.poll() is not None:
            finish(proc)
            continue
        deliver(proc, signal.SIGINT)
        status, err, seconds = finish(proc)
        if status in (2, -signal.SIGINT) and "overflows double precision" in err:
            assert len(own_lines(err)) == 1 and not out.exists(), err
            continue
        line = check_interrupt(status, err, seconds, signal.SIGINT, limit=3.0)
        assert "before any chunk" in line and not out.exists()
        break
    else:
        pytest.fail("the check always ended before the interrupt could land")


# ------------------------------------------------------------------------------------------ issue 20: rare, pulse
#
# Every job below is synchronised on something it shows (replicas on file, live
# worker processes, CPU time spent), never on a bare sleep.

def _rare_toml(tmp_path, S0=14) -> Path:
    cfg = tmp_path / "rare.toml"
    cfg.write_text((RUNS / "rare_switching.toml").read_text().replace("S0 = 20", f"S0 = {S0}"))
    return cfg


def _replicas_on_file(path) -> int:
    try:
        with h5py.File(path, "r", locking=False) as h5:  # replaced whole by a rename: never half-written
            return int(h5["replicas/index"].size)
    except (OSError, KeyError):
        return -1


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _resumes(cfg, out) -> None:
    status, err, _ = finish(launch(["rare", cfg, "--out", out, "--resume", "--rtol", "0.5", "--quiet",
                                    "--no-exact"]), timeout=300)
    assert status == 0, err


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "workers"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_case10_rare_saves_then_one_line_and_the_signal_status(tmp_path, sig, workers):
    """issue 20 case 10: rare ignored SIGTERM (no message, the .lock stayed, replicas since the last save lost)."""
    cfg, out = _rare_toml(tmp_path), tmp_path / "rare.h5"
    proc = launch(["rare", cfg, "--out", out, "--rtol", "0.002", "--quiet", "--workers", workers])
    assert wait_for(lambda: _replicas_on_file(out) >= 1, timeout=120, proc=proc), proc.communicate()[1]
    seen = _replicas_on_file(out)
    kids = _children(proc.pid)
    deliver(proc, sig)
    status, err, seconds = finish(proc)
    line = check_interrupt(status, err, seconds, sig, limit=20)
    assert "replicas are in" in line and "--resume" in line, line
    assert _replicas_on_file(out) >= seen and not Path(str(out) + ".lock").exists()
    assert not Path(str(out) + ".partial").exists()
    assert wait_for(lambda: not any(_alive(k) for k in kids), timeout=10)
    _resumes(cfg, out)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_case9_rare_workers_die_with_the_main_process(tmp_path, sig):
    """issue 20 case 9: SIGKILL or SIGTERM to the main process of rare --workers 2 left its workers running."""
    cfg, out = _rare_toml(tmp_path), tmp_path / "rare.h5"
    proc = launch(["rare", cfg, "--out", out, "--rtol", "0.002", "--quiet", "--workers", "2"])
    assert wait_for(lambda: len(_children(proc.pid)) >= 2, timeout=120, proc=proc), proc.communicate()[1]
    kids = _children(proc.pid)
    deliver(proc, sig, to="main")
    finish(proc)
    assert wait_for(lambda: not any(_alive(k) for k in kids), timeout=10)
    if sig == signal.SIGTERM:
        assert not Path(str(out) + ".lock").exists()
    _resumes(cfg, out)


def _pulse_job(tmp_path, workers):
    out = tmp_path / "wer.h5"
    # 200 heights of about 0.7 s each (2 min serially): always interrupted long before the end
    args = ["pulse", RUNS / "pulse.toml", "--out", out, "--quiet", "--vary", "mu.left", "--heights", "0.8", "1.2",
            "200", "--workers", workers, "--force-size"]
    return out, launch(args)


@pytest.mark.parametrize("workers", [1, 2], ids=["serial", "workers"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_case9_case10_pulse_under_signals(tmp_path, sig, workers):
    """issue 20 cases 9 and 10: pulse ignored SIGTERM, and its workers outlived a killed main process."""
    out, proc = _pulse_job(tmp_path, workers)
    if workers > 1:
        assert wait_for(lambda: len(_children(proc.pid)) >= 2, timeout=120, proc=proc), proc.communicate()[1]
    else:  # past the imports and the budget check: computing
        assert wait_for(lambda: _cpu(proc.pid) >= 4.0, timeout=120, proc=proc), proc.communicate()[1]
    kids = _children(proc.pid)
    deliver(proc, sig, to="main" if sig == signal.SIGKILL else "group")
    status, err, seconds = finish(proc)
    if sig != signal.SIGKILL:
        line = check_interrupt(status, err, seconds, sig, limit=20)
        assert "nothing was written" in line, line
    assert wait_for(lambda: not any(_alive(k) for k in kids), timeout=10)
    assert not out.exists() and not Path(str(out) + ".lock").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_case4_a_full_disk_during_a_rare_save_is_one_line_and_resumable(tmp_path):
    """issue 20 case 4: rare died with SIGSEGV on a full disk (ulimit -f: a 53-line traceback, a .partial left)."""
    cfg, out = _rare_toml(tmp_path), tmp_path / "rare.h5"
    FAULTS["injected"] += 1
    status, err, _ = finish(launch(["rare", cfg, "--out", out, "--rtol", "0.05", "--quiet"],
                                   preexec_fn=_size_limited(20_000)), timeout=300)
    assert status == 2 and "Traceback" not in err, err
    lines = own_lines(err)
    assert len(lines) == 1 and "File too large" in lines[0] and "--resume" in lines[0], err
    assert _replicas_on_file(out) >= 0 and not Path(str(out) + ".partial").exists()  # the last save, readable
    assert not Path(str(out) + ".lock").exists()
    _resumes(cfg, out)


def test_case4_a_full_disk_during_a_pulse_save_is_one_line(tmp_path):
    """issue 20 case 4: pulse died with SIGBUS on a full tmpfs."""
    out = tmp_path / "wer.h5"
    FAULTS["injected"] += 1
    with small_filesystem(tmp_path / "small", 8192) as mount:
        kw = {} if mount is not None else {"preexec_fn": _size_limited(8192)}
        out = (mount or tmp_path) / "wer.h5"
        status, err, _ = finish(launch(["pulse", RUNS / "pulse.toml", "--out", out, "--quiet", "--widths", "0",
                                        "600", "11", "--force-size"], **kw), timeout=300)
        assert status == 2 and "Traceback" not in err, err
        lines = own_lines(err)
        assert len(lines) == 1 and ("No space" in lines[0] or "File too large" in lines[0]), err
        assert not out.exists() and not [p for p in out.parent.iterdir() if "partial" in p.name]


def _rank0(tag) -> int | None:
    for pid in tagged_processes(tag):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"PMI_RANK=0" in env and b"nanomag.cli" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    return None


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec")
def test_case5_pulse_sigint_to_rank0_alone_under_mpiexec_ends_the_job(tmp_path):
    """issue 20 case 5, pulse: rank 1 would wait in the map's allgather forever."""
    out = tmp_path / "wer.h5"
    tag = f"case5p-{os.getpid()}-{time.monotonic_ns()}"
    proc = launch(["pulse", RUNS / "pulse.toml", "--out", out, "--quiet", "--vary", "mu.left", "--heights", "0.8",
                   "1.2", "200", "--force-size"], ranks=2, tag=tag)
    assert wait_for(lambda: (_rank0(tag) is not None and _cpu(_rank0(tag)) >= 4.0), timeout=120, proc=proc), \
        proc.communicate()[1]
    FAULTS["injected"] += 1
    os.kill(_rank0(tag), signal.SIGINT)
    status, err, _ = finish(proc, timeout=30)
    assert status != 0 and "Traceback" not in err, err
    assert [line for line in own_lines(err) if "nothing was written" in line], err
    assert wait_for(lambda: not tagged_processes(tag), timeout=10)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec")
def test_case5_sigint_to_rank0_alone_under_mpiexec_ends_the_job(tmp_path):
    """issue 20 case 5: SIGINT to rank 0 alone hung `mpiexec -n 2 nanomag rare` forever (rank 1 in a collective)."""
    cfg, out = _rare_toml(tmp_path), tmp_path / "rare.h5"
    tag = f"case5-{os.getpid()}-{time.monotonic_ns()}"
    proc = launch(["rare", cfg, "--out", out, "--rtol", "0.002", "--quiet"], ranks=2, tag=tag)
    assert wait_for(lambda: _replicas_on_file(out) >= 1, timeout=120, proc=proc), proc.communicate()[1]
    rank0 = _rank0(tag)
    assert rank0 is not None
    FAULTS["injected"] += 1
    os.kill(rank0, signal.SIGINT)
    status, err, seconds = finish(proc, timeout=30)
    assert status != 0 and "Traceback" not in err, err
    assert [line for line in own_lines(err) if line.startswith("nanomag: interrupted")], err
    assert wait_for(lambda: not tagged_processes(tag), timeout=10)
    assert _replicas_on_file(out) >= 1 and not Path(str(out) + ".lock").exists()
    _resumes(cfg, out)
