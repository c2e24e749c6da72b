"""Result files that are never lost: the lock of a live run, output checks, atomic replacement.

* :class:`RunLock` -- the exclusive lock of the process that writes ``FILE``:
  an ``flock`` on a sidecar ``FILE.lock`` that exists only while its holder
  lives (the kernel drops the lock of a killed process).  ``nanomag run``
  holds it from the moment it creates or reopens ``FILE`` until it closes it,
  and every other writer of ``FILE`` (``--force``, ``--resume``, another
  command's ``--out``) must take it first, so a file that belongs to a live
  run is never touched.  The HDF5 library's own lock on ``FILE`` is probed as
  well (a writer that does not know the sidecar).
* :func:`check_output` -- refuse, before any work, an output path that cannot
  be written: a directory, a read-only place, an unknown figure format, or an
  existing file without ``force`` (and, with ``force``, a file of a live run).
* :func:`check_regular` -- refuse a path that exists and is not a regular
  file (a symlink, FIFO, device node, socket): it is never written through
  or replaced, even with ``--force``.
* :func:`replace_atomically` -- write a result under a temporary name in the
  same directory and rename it over ``FILE`` only when it is complete: a
  failure (full disk, interrupt) leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import tempfile
import time
from pathlib import Path

from ..errors import ConfigError

__all__ = ["RunLock", "check_output", "check_regular", "replace_atomically", "live_writer", "FIGURE_SUFFIXES",
           "lock_path", "write_image", "WRITE_ERRORS", "describe_os_error", "chunk_bounds"]

#: Figure formats every matplotlib installation writes (checked before the computation).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")

_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def lock_path(path) -> Path:
    """The sidecar lock of ``path``: ``path`` with ``.lock`` appended."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _hdf5_locked(path: Path) -> bool:
    """True if some process holds the HDF5 library's exclusive (writer's) lock on ``path``."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text().strip()
    except OSError:
        text = ""
    return f" ({text})" if text else ""


def live_writer(path) -> str | None:
    """A description of the live process writing ``path``, or None if there is none."""
    import fcntl

    path = Path(path)
    lock = lock_path(path)
    if lock.exists():
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            fd = None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except BlockingIOError:
                return f"a live run{_holder(lock)}"
            except OSError:
                pass
            finally:
                os.close(fd)
    if path.is_file() and _hdf5_locked(path):
        return "another process (it holds the HDF5 file lock)"
    return None


class RunLock:
    """Exclusive, non-blocking lock of the one process allowed to write ``path``.

    ``acquire()`` raises :class:`~nanomag.errors.ConfigError` naming the holder
    if another live process has it; ``release()`` (or leaving the ``with``
    block) removes the sidecar.  On a file system without ``flock`` the lock
    is skipped (the HDF5 library's lock, when it works, still guards the data).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.lock = lock_path(self.path)
        self.fd: int | None = None

    def acquire(self, what: str = "--out") -> RunLock:
        import fcntl

        for _ in range(100):
            try:
                fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ConfigError(f"{what}: cannot write next to {self.path}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ConfigError(f"{what}: {self.path} is being written by a live run{_holder(self.lock)}; "
                                  f"refusing to touch it (wait for it, or stop it first)") from None
            except OSError as exc:
                os.close(fd)
                if exc.errno in _UNSUPPORTED:  # no flock here: go on without the sidecar
                    with contextlib.suppress(OSError):
                        self.lock.unlink()
                    break
                raise ConfigError(f"{what}: cannot lock {self.lock}: {exc.strerror}") from None
            try:  # the holder we waited for may have removed the sidecar: lock the file that is there now
                same = os.stat(self.lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            self.fd = fd
            break
        if self.path.is_file() and _hdf5_locked(self.path):
            self.release()
            raise ConfigError(f"{what}: {self.path} is open for writing in another process (it holds the HDF5 "
                              f"file lock); refusing to touch it")
        return self

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.lock.unlink()  # while still locked: a waiter re-checks the inode
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def __del__(self):  # a lock whose owner is dropped (e.g. by an interrupt) does not outlive it
        self.release()

    def __enter__(self):
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc):
        self.release()


def check_regular(path, what: str = "--out") -> Path:
    """Refuse ``path`` if it exists and is not a regular file (symlink, FIFO, device node, socket, loop).

    Such a path is never opened (opening a FIFO blocks), written through or
    replaced, whatever ``--force`` says.  Returns it as a Path.
    """
    import stat

    p = Path(path)
    try:
        mode = os.lstat(p).st_mode
    except FileNotFoundError:
        return p
    except OSError as exc:
        raise ConfigError(f"{what}: cannot inspect {p}: {exc.strerror}") from None
    if stat.S_ISREG(mode):
        return p
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{what}: {p} is a directory; give a file name")
    kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a device node" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise ConfigError(f"{what}: {p} is {kind}, not a regular file; refusing to write through or replace it "
                      f"(even with --force): give a plain file name")


def check_output(path, *, force: bool, what: str = "--out", suffixes=None, exists_hint: str = "") -> Path:
    """Refuse an output path before any work is done; returns it as a Path.

    Refused: an empty path, an unsupported suffix (when ``suffixes`` is given),
    a directory, a parent that is not a directory or cannot be written (the
    parent is created if missing), an existing file unless ``force``, and with
    ``force`` a file that a live run is writing.
    """
    if path is None or str(path).strip() == "":
        raise ConfigError(f"{what}: empty path")
    p = check_regular(path, what)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        got = f"'{p.suffix}'" if p.suffix else "no extension"
        raise ConfigError(f"{what}: {p} has {got}; use one of {', '.join(suffixes)}")
    if p.is_dir():
        raise ConfigError(f"{what}: {p} is a directory; give a file name")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{what}: {p}: {parent} is not a directory") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot create the directory of {p}: {exc.strerror}") from None
    if not parent.is_dir():
        raise ConfigError(f"{what}: {p}: {parent} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".nanomag-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{what}: cannot write in {parent}: {exc.strerror}") from None
    if p.exists() or p.is_symlink():
        if not force:
            raise ConfigError(f"{what}: {p} exists; {exists_hint or 'use --force to overwrite it'}")
        holder = live_writer(p)
        if holder is not None:
            raise ConfigError(f"{what}: {p} is being written by {holder}; refusing to overwrite it even with --force")
    return p


@contextlib.contextmanager
def replace_atomically(path, what: str = "--out"):
    """Yield a temporary path next to ``path`` (same suffix); on success rename it over ``path``.

    The sidecar lock of ``path`` is held meanwhile, so a live run's file is
    never replaced.  On failure the temporary file is removed and ``path`` is
    left as it was; an OSError (full disk, ...) becomes a one-line ConfigError.
    """
    path = check_regular(path, what)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    with RunLock(path).acquire(what):
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as exc:
            raise ConfigError(f"{what}: writing {path} failed: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_image(path, data: bytes) -> None:
    """Write ``data`` (an HDF5 file built in memory) to ``path`` with plain system calls, then fsync.

    A full disk or a file size limit is an OSError here, never an HDF5
    library left half-written (whose clean-up crashed the process with
    SIGSEGV); ``path`` is removed on failure.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


#: What h5py raises when the operating system refuses a write (full disk, file size limit, ...).
WRITE_ERRORS = (OSError, ValueError, RuntimeError)


def describe_os_error(exc: BaseException) -> str:
    """The operating system's reason in an h5py/OS error, e.g. 'No space left on device'."""
    import re

    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    text = str(exc)
    found = re.search(r"errno = (\d+)", text)
    if found and int(found.group(1)) > 0:
        return os.strerror(int(found.group(1)))
    return " ".join(text.split("(")[0].split()) or type(exc).__name__


def chunk_bounds(n_traj: int, chunk_size: int, chunk: int) -> tuple[int, int]:
    """Trajectories ``lo .. hi - 1`` of chunk ``chunk`` of a run cut in chunks of ``chunk_size``."""
    lo = chunk * chunk_size
    return lo, min(lo + chunk_size, n_traj)
