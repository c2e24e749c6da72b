"""What every ``nanomag`` subcommand shares: one-line errors, argument types, output paths.

The rules (docs/reliability.md):

* bad input -> one line ``nanomag: error: ...`` naming the problem, exit status 2,
  no traceback -- for argparse's own errors too (:class:`ArgumentParser`), and
  for every :class:`~nanomag.errors.NanomagError` (:func:`run_command`, the one
  place that maps errors to exit statuses);
* no result file is overwritten without ``--force``, and ``--force`` never
  touches a file that a live run is writing (:func:`output`);
* a figure's format is checked before the computation (:func:`figure_output`);
* an interrupted command exits with 128 + the signal number (130, 143).

A new subcommand uses the argument types below (``positive_int``,
``positive_float``, ...), :func:`add_force_flags`, :func:`output` /
:func:`figure_output` for its result paths and :func:`write_result` to write
them, and gets all of the above.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import warnings
from pathlib import Path

from ..errors import ConfigError, NanomagError, RegimeWarning
from ..io.outputs import FIGURE_SUFFIXES, check_output, replace_atomically

__all__ = ["ArgumentParser", "run_command", "say", "check_workers", "positive_int", "positive_float", "nonneg_int",
           "finite_float", "u_value", "int_at_least", "add_force_flags", "add_job_flags", "output", "figure_output",
           "write_result", "default_name", "is_rank0", "error_line", "EXIT_BAD_INPUT"]

#: Exit status of every refusal of bad input.
EXIT_BAD_INPUT = 2
_RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")


def is_rank0() -> bool:
    """False on the ranks > 0 of an MPI launch (they stay silent: rank 0 reports)."""
    for key in _RANK_ENV:
        value = os.environ.get(key)
        if value is not None:
            try:
                return int(value) == 0
            except ValueError:
                return True
    return True


def error_line(message) -> str:
    """``nanomag: error: MESSAGE`` on one line (newlines folded)."""
    text = " ".join(str(message).split()) or "unknown error"
    return f"nanomag: error: {text}"


def say(line: str) -> None:
    if is_rank0():
        print(line, file=sys.stderr, flush=True)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (``nanomag: error: run: argument --dt: ...``) and exit status 2.

    Subparsers made by ``add_subparsers`` inherit the class.
    """

    def error(self, message):
        where = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        say(error_line(f"{where}{message} (see {self.prog} --help)"))
        raise SystemExit(EXIT_BAD_INPUT)


# ----------------------------------------------------------------------------- argument types
# argparse calls them on the string and reports their ArgumentTypeError on one line.

def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def finite_float(text: str) -> float:
    """A finite number (NaN and infinities refused)."""
    value = _number(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (``--dt 0`` is an error, not a request for the default)."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def u_value(text: str) -> float:
    """A reduced magnetisation in [-1, 1]."""
    value = finite_float(text)
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [-1, 1], got {text!r}")
    return value


def int_at_least(minimum: int, what: str | None = None):
    """An argparse type: an integer >= ``minimum`` (``1.5``, ``x`` and ``1e3`` refused)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what or f'an integer >= {minimum}'}, got {text!r}")
        return value

    parse.__name__ = what or f"integer >= {minimum}"
    return parse


positive_int = int_at_least(1, "a positive integer")
nonneg_int = int_at_least(0, "an integer >= 0")


def add_job_flags(p) -> None:
    """``--workers``, ``--quiet`` and ``--json`` of the commands that spread tasks over processes or ranks."""
    p.add_argument("--workers", type=positive_int, default=1, help="processes when not under mpiexec (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="machine-readable summary")


#: Worker processes per CPU accepted without --force-size (each holds its own copy of the chain).
WORKERS_PER_CPU = 4


def check_workers(args) -> int:
    """Refuse ``--workers`` beyond :data:`WORKERS_PER_CPU` per CPU (a fork bomb) unless ``--force-size``."""
    workers = getattr(args, "workers", 1)
    cpus = os.cpu_count() or 1
    if workers > WORKERS_PER_CPU * cpus and not getattr(args, "force_size", False):
        raise ConfigError(f"--workers: {workers} processes on {cpus} CPUs (at most {WORKERS_PER_CPU * cpus}, "
                          f"{WORKERS_PER_CPU} per CPU); use fewer, or pass --force-size to try anyway")
    return workers


def add_force_flags(p, *, force_help: str = "overwrite existing output files (never a file a live run writes)"):
    """``--force`` and ``--force-size`` on a subcommand."""
    p.add_argument("--force", action="store_true", help=force_help)
    p.add_argument("--force-size", action="store_true",
                   help="run even if the estimated memory, disk or time exceeds the limits (see docs/reliability.md)")


# ----------------------------------------------------------------------------- output paths

def default_name(config, what: str, suffix: str) -> str:
    """The default output of a command: CONFIG's stem, ``_what`` unless the stem already says it, ``suffix``.

    ``default_name("runs/fig3.toml", "spectroscopy", ".h5")`` is "fig3_spectroscopy.h5";
    ``default_name("runs/fig3_spectroscopy.toml", ...)`` is "fig3_spectroscopy.h5" (no doubled word).
    """
    stem = Path(config).stem
    return f"{stem}{suffix}" if stem == what or stem.endswith(("_" + what, "-" + what)) else f"{stem}_{what}{suffix}"


def output(path, args, what: str = "--out"):
    """Check a result path before any work (see :func:`nanomag.io.outputs.check_output`)."""
    return check_output(path, force=getattr(args, "force", False), what=what)


def figure_output(path, args, what: str = "--out"):
    """As :func:`output`, for a figure: the format (suffix) must be one matplotlib writes."""
    return check_output(path, force=getattr(args, "force", False), what=what, suffixes=FIGURE_SUFFIXES)


def write_result(path, write, what: str = "--out"):
    """``write(tmp)`` then rename ``tmp`` over ``path``: a failure leaves ``path`` as it was."""
    with replace_atomically(path, what) as tmp:
        write(tmp)
    return path


# ----------------------------------------------------------------------------- running a command

def _one_line_warning(show):
    """A ``warnings.showwarning`` that prints nanomag's own warnings as ``nanomag: warning: ...`` (one line)."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RegimeWarning):
            say(f"nanomag: warning: {' '.join(str(message).split())}")
        else:
            show(message, category, filename, lineno, file, line)
    return showwarning


def run_command(func, args) -> int:
    """Run ``func(args)`` and map what it raises to one line and an exit status.

    NanomagError (bad input, a request that cannot fit) -> 2; an interrupt ->
    128 + signal (its message says what was kept); MemoryError and OSError ->
    one line and 2; a broken pipe (``| head``) -> quiet.  Anything else is a bug
    and keeps its traceback; ``NANOMAG_TRACEBACK=1`` shows the traceback of
    the handled errors too.
    """
    if hasattr(signal, "SIGXFSZ"):  # a file size limit gives EFBIG (reported), not a silent kill
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
    debug = os.environ.get("NANOMAG_TRACEBACK") == "1"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(warnings.showwarning)
            return int(func(args) or 0)
    except NanomagError as exc:
        if debug:
            raise
        if not getattr(exc, "reported_by_rank0", False):
            say(error_line(exc))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:  # includes nanomag.run.signals.Interrupted
        return _interrupted(exc)
    except MemoryError:
        if debug:
            raise
        say(error_line("out of memory; make the request smaller (fewer states, points or trajectories)"))
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        try:  # stdout went away (| head): say nothing more
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        say(error_line(f"{where}{exc.strerror or exc}"))
        return EXIT_BAD_INPUT
    except Exception as exc:
        inner = _interrupt_behind(exc)
        if inner is None:
            raise
        return _interrupted(inner)


def _interrupted(exc: KeyboardInterrupt) -> int:
    """One line for an interrupt, and its exit status (128 + the signal)."""
    status = getattr(exc, "exit_status", 130)
    message = str(exc) if getattr(exc, "signum", None) else "interrupted"
    say(f"nanomag: {' '.join(message.split())}")
    return status


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt a C extension wrapped into another exception (as its cause), if any.

    A library that calls back into Python may turn an exception raised in the callback into its own
    (h5py: a SystemError), keeping ours as the cause; the run's signal handler waits until h5py is
    off the stack, and this catches what another library might do.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return link
        seen.add(id(link))
        link = link.__cause__
    return None
