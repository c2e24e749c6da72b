"""Signals during a run: SIGINT and SIGTERM stop it cleanly, with every finished chunk kept (:class:`Interrupted`)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["Interrupted", "StopFlag"]


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; the finished chunks are in the file, which ``--resume`` finishes.

    Attributes: ``signum``, ``done`` and ``total`` (chunks in the file, None
    if the run stopped before it had a file), ``path``.
    """

    def __init__(self, signum: int, done: int | None = None, total: int | None = None, path=None,
                 note: str | None = None):
        super().__init__(signum)
        self.signum, self.done, self.total, self.path = int(signum), done, total, path
        self.note = note  # what was kept, for commands without chunks (rare, pulse)

    @property
    def exit_status(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM (what a shell reports)."""
        return 128 + self.signum

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name if self.signum in set(signal.Signals) else str(self.signum)
        if self.note is not None:
            return f"interrupted ({name}); {self.note}"
        if self.done is None:
            return f"interrupted ({name}) before any chunk was computed; nothing was written"
        return (f"interrupted ({name}) after {self.done} of {self.total} chunks; "
                f"resume with --resume (every finished chunk is in {self.path})")


class StopFlag:
    """SIGINT/SIGTERM handlers for the duration of a run.

    While ``raising`` (setting up: the exact check, creating the file) a signal
    raises :class:`Interrupted` at once; afterwards it only records the signal,
    and the loops stop at the next sub-block boundary, after writing every
    finished chunk.
    """

    RETRY = 0.02  # [s] a signal that lands in a finaliser (or in h5py) is raised again this much later

    def __init__(self, raising: bool = True, once: bool = False):
        self.signum = 0
        self.raising = raising
        self.once = once  # raise for the first signal only: a second one does not break the save it started
        self._old: dict[int, Any] = {}  # signal number -> the handler it had
        self._old_unraisable: Any = None

    def install(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
                self._old[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
            self._old_unraisable = sys.unraisablehook
            sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, unraisable: Any) -> None:
        """An :class:`Interrupted` that Python could not raise (a callback from C code, a finaliser the checks
        of :meth:`_must_wait` do not know) is not printed and dropped: it is raised again a moment later."""
        if isinstance(unraisable.exc_value, Interrupted) and self._old:
            signal.setitimer(signal.ITIMER_REAL, self.RETRY)
            return
        (self._old_unraisable or sys.__unraisablehook__)(unraisable)

    @staticmethod
    def _must_wait(frame) -> bool:
        """An exception raised here would be lost or garbled: wait until the stack is out of such code.

        * a finaliser: the exception is printed and dropped ("Exception ignored in ...").  The whole
          stack counts: a signal may land in a function that a finaliser calls (numba's event hooks
          inside llvmlite's ``__del__``);
        * h5py: its C layer calls back into Python (attribute iteration, for one) and turns an
          exception raised in the callback into a SystemError, with ours only as its cause;
        * llvmlite: LLVM calls back into Python through ctypes while numba compiles (the object code
          handed to numba's cache), and ctypes prints and drops an exception raised there.  The
          interrupt came back through :meth:`_unraisable`, but the cache would miss that code.
        """
        while frame is not None:
            code = frame.f_code
            name = code.co_filename.replace("\\", "/")
            if code.co_name == "__del__" or name.endswith(("weakref.py", "_weakrefset.py")) or (
                    "/h5py/" in name or "/llvmlite/" in name):
                return True
            frame = frame.f_back
        return False

    def _handle(self, signum, frame):
        if signum == signal.SIGALRM:  # the retry of a signal that landed in a finaliser
            signum = self.signum
            if not signum:
                return
        elif not self.signum:
            self.signum = signum
        elif self.once:
            return
        if self.raising:
            if self._must_wait(frame):
                signal.setitimer(signal.ITIMER_REAL, self.RETRY)
                return
            raise Interrupted(signum)

    def restore(self) -> None:
        if signal.SIGALRM in self._old:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._old = {}
        if self._old_unraisable is not None:
            sys.unraisablehook = self._old_unraisable
            self._old_unraisable = None
