"""Signals during a run: never lost in a finaliser or a callback from C, nor garbled by h5py; an interrupted pool
ends cleanly."""

import os
import signal
import sys
import time

import pytest

from nanomag.run.signals import Interrupted, StopFlag

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _deliver_here():
    """Raise SIGINT at ourselves; the handler runs in this frame, which a finaliser called."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(1000):  # bytecodes for the handler to run in
        pass


class _SignalInDel:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass


class _SignalBelowDel:
    def __del__(self):
        _deliver_here()


@pytest.mark.parametrize("kind", [_SignalInDel, _SignalBelowDel], ids=["in __del__", "called from __del__"])
def test_a_signal_in_a_finaliser_is_raised_again_after_it(kind):
    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    flag = StopFlag(raising=True).install()
    try:
        with pytest.raises(Interrupted) as info:
            obj = kind()
            del obj
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # the retry lands here, in ordinary code
                time.sleep(0.001)
    finally:
        flag.restore()
        sys.unraisablehook = old_hook
    assert info.value.signum == signal.SIGINT
    assert unraisable == []  # nothing was printed and dropped ("Exception ignored in ...")


def test_a_signal_inside_h5py_is_raised_after_it(tmp_path):
    """h5py's C layer calls back into Python (here ``visititems``; attribute iteration while a resume
    checks its file) and may turn an exception raised in the callback into its own SystemError: a
    signal that lands below an h5py frame is raised once h5py is off the stack, so the iteration
    runs to its end and the run still stops with Interrupted (the old handler raised inside it)."""
    import h5py

    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as h5:
        for i in range(20):
            h5.create_group(f"g{i}")
    visited = []

    def visit(name, _obj):  # called by h5py's C iteration, through h5py's Python proxy
        if not visited:
            _deliver_here()
        visited.append(name)

    flag = StopFlag(raising=True).install()
    try:
        with pytest.raises(Interrupted):
            with h5py.File(path, "r") as h5:
                h5.visititems(visit)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # the retry lands here, in ordinary code
                time.sleep(0.001)
    finally:
        flag.restore()
    assert len(visited) == 20


def test_a_signal_inside_a_callback_from_c_is_raised_after_it():
    """ctypes prints and drops an exception raised in a callback from C ("Exception ignored on calling ctypes
    callback function"): a Ctrl-C that landed in llvmlite's object-cache callback while numba compiled was
    lost and the run went on.  The interrupt comes back a moment later, and nothing is printed."""
    import ctypes

    after = []

    def callback():
        _deliver_here()  # the handler raises here, inside the callback
        after.append("not reached")

    unraisable = []
    old_hook, hook = sys.unraisablehook, unraisable.append
    sys.unraisablehook = hook  # what the flag must not pass on
    flag = StopFlag(raising=True).install()
    try:
        with pytest.raises(Interrupted) as info:
            ctypes.CFUNCTYPE(None)(callback)()
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # the retry lands here, in ordinary code
                time.sleep(0.001)
    finally:
        flag.restore()
        assert sys.unraisablehook is hook  # given back
        sys.unraisablehook = old_hook
    assert info.value.signum == signal.SIGINT
    assert unraisable == [] and after == []


def test_llvmlite_and_h5py_frames_make_a_signal_wait():
    """Below a frame of either library an exception would be dropped (llvmlite's ctypes callbacks) or wrapped
    (h5py's): the handler waits until the stack is out of them."""
    from types import SimpleNamespace as NS

    def frame(path, name="f", back=None):
        return NS(f_code=NS(co_filename=path, co_name=name), f_back=back)

    mine = frame("/x/nanomag/run/ensemble.py")
    callback = frame("/x/site-packages/llvmlite/binding/executionengine.py", "_raw_object_cache_notify", mine)
    assert StopFlag._must_wait(callback) and StopFlag._must_wait(frame("/x/mine.py", back=callback))
    assert StopFlag._must_wait(frame("/x/site-packages/h5py/_hl/group.py", back=mine))
    assert not StopFlag._must_wait(mine)


def test_a_signal_recorded_before_the_run_stops_it_at_its_start(tmp_path):
    """``nanomag run`` installs the handlers before MPI starts: a rank still starting while rank 0 took the file
    died of a SIGTERM to the job (mpiexec's exit 15, no message).  A signal they recorded before the run
    stops it at its start, before it takes its file."""
    from pathlib import Path

    import nanomag as nm
    from nanomag.run.ensemble import run_ensemble

    cfg = nm.read_config(Path(__file__).parents[1] / "runs" / "small_switching.toml")
    out = tmp_path / "a.h5"
    stop = StopFlag(raising=False).install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # bytecodes for the handler to run in
            pass
        assert stop.signum == signal.SIGTERM
        with pytest.raises(Interrupted) as info:
            run_ensemble(cfg, out, quiet=True, stop=stop)
        assert signal.getsignal(signal.SIGTERM) == stop._handle  # the caller's to restore
    finally:
        stop.restore()
    assert info.value.signum == signal.SIGTERM and info.value.done is None
    assert not out.exists() and not Path(str(out) + ".partial").exists() and not Path(str(out) + ".lock").exists()


def test_the_command_line_unwraps_an_interrupt_a_library_wrapped(capsys):
    """Whatever still wraps an interrupt (a SystemError caused by it) ends as one line and 128 + signal."""
    from nanomag.cli.common import run_command

    def func(_args):
        try:
            raise Interrupted(signal.SIGINT)
        except Interrupted as exc:
            raise SystemError("returned a result with an exception set") from exc

    assert run_command(func, None) == 130
    err = capsys.readouterr().err
    assert err.strip() == "nanomag: interrupted (SIGINT) before any chunk was computed; nothing was written"


def test_an_interrupt_ends_the_workers_and_their_manager_thread_cleanly():
    """An interrupt while tasks are still queued: the workers are killed and the pool's manager thread fails
    every pending task and ends.  With ``pool.map``, whose iterator cancels the queued tasks as the
    interrupt leaves it, the manager thread died on a cancelled one (InvalidStateError, CPython 3.11) and
    an interrupted ``pulse --workers 2`` hung at exit about once in ten runs."""
    import threading
    from concurrent.futures.process import _ExecutorManagerThread

    from nanomag.run.maps import process_map

    died = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: died.append(args.exc_type)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            process_map(2)(time.sleep, [0.1] * 400)  # 20 s of tasks: most still queued at the interrupt
        timer.join()
        for thread in threading.enumerate():
            if isinstance(thread, _ExecutorManagerThread):
                thread.join(10.0)
                assert not thread.is_alive()
    finally:
        threading.excepthook = old_hook
    assert died == []
