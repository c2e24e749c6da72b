"""Write the paper's Figs. 5, 6 (all panels, with the zoom) and 8 into runs/figures/.

Usage:  .venv/bin/python scripts/reproduce_paper.py [OUTDIR]
"""

import sys
import time

from nanomag.phase_plots import reproduce_paper

if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else "runs/figures"
    t0 = time.perf_counter()
    for path in reproduce_paper(outdir):
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
