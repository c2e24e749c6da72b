"""When does a SIGTERM to an ``mpiexec`` job stop it with its one line, and when does it kill it silently?

Launches ``mpiexec -n RANKS nanomag run`` on ``runs/switching.toml`` (20 000 trajectories in chunks of
200, a fresh file each time) and sends SIGTERM to the job's process group (what Ctrl-C or SLURM does)
after each ``--delays`` seconds, then prints the job's exit status, how long it took to stop and the
last line it wrote to stderr.  A run that has its handlers ends with 143 and "nanomag: interrupted
...".  Before they are installed, while Python itself starts, the signal kills the ranks and mpiexec
ends with 15 and no message (docs/reliability.md, "Setting up"); ``nanomag run`` installs them before
MPI starts, so the window is the start of Python and the imports.

Usage: python scripts/signal_window.py [--ranks 2] [--delays 0.2 0.4 0.6 0.8 1.0 1.5]
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def config_text() -> str:
    base = (ROOT / "runs" / "switching.toml").read_text().split("[run]")[0]
    return base + ('[run]\nkind = "first_passage"\nstart_u = -0.8\ntarget_u = 0.8\nn_traj = 20000\nseed = 99\n'
                   'chunk_size = 200\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--delays", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8, 1.0, 1.5])
    args = parser.parse_args()
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("mpiexec not found: install the mpich wheel (pip install -e '.[test]')")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "run.toml"
        cfg.write_text(config_text())
        print(f"SIGTERM to mpiexec -n {args.ranks} nanomag run (its process group) after a delay:")
        for k, delay in enumerate(args.delays):
            out = Path(tmp) / f"run{k}.h5"
            proc = subprocess.Popen([mpiexec, "-n", str(args.ranks), sys.executable, "-m", "nanomag.cli", "run",
                                     str(cfg), "--out", str(out), "--quiet"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGTERM)
            t0 = time.monotonic()
            _, err = proc.communicate(timeout=120)
            last = err.strip().splitlines()[-1] if err.strip() else "(nothing)"
            print(f"  {delay:5.2f} s: status {proc.returncode:4d} after {time.monotonic() - t0:5.3f} s; {last[:110]}")


if __name__ == "__main__":
    main()
