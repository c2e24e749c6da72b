"""The run's signal handler: a signal never gets lost in a finaliser."""

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
