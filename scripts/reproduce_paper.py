"""Write the paper's figures into runs/figures/.

* Fig. 5 (LLG), Fig. 6 (all panels and the zoom), Fig. 8 (hysteresis) and its KMC counterpart;
* Fig. 3 (multi-level spectroscopy: dI/dV and I(theta=0) - I(theta=pi)), on --workers processes.

Usage:  python scripts/reproduce_paper.py [OUTDIR] [--workers 2] [--skip-fig3]
"""

import argparse
import time
from pathlib import Path

from nanomag.run.parallel import process_map
from nanomag.viz.paper import fig3, reproduce_paper

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", nargs="?", default="runs/figures")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-fig3", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    for path in reproduce_paper(args.outdir):
        print(f"wrote {path}  ({time.perf_counter() - t0:.0f} s)")
    if not args.skip_fig3:
        out = Path(args.outdir) / "paper_fig3.png"
        fig3(out, map_fn=process_map(args.workers) if args.workers > 1 else None)
        print(f"wrote {out}  ({time.perf_counter() - t0:.0f} s)")
