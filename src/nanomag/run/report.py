"""What a run reports: its summary (rank 0's view) and, on rank 0, a progress bar."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["RunSummary", "Progress"]


@dataclass
class RunSummary:
    """What a run did (rank 0's view)."""

    path: str
    kind: str
    n_traj: int
    n_ranks: int
    chunks_computed: int
    wall_time: float
    rank_busy: list = field(default_factory=list)
    rank_events: list = field(default_factory=list)
    write_time: float = 0.0
    complete: bool = True
    exact_mean: float | None = None  # exact mean switching time, when the run's check computed it

    @property
    def load_imbalance(self) -> float:
        """max over ranks of busy time / mean busy time."""
        busy = np.asarray(self.rank_busy, dtype=float)
        return float(busy.max() / busy.mean()) if busy.size and busy.mean() > 0 else float("nan")

    @property
    def events_per_second(self) -> float:
        return float(sum(self.rank_events) / self.wall_time) if self.wall_time > 0 else float("nan")


class Progress:
    """tqdm bar of trajectories with events/s in the postfix; silent when quiet."""

    def __init__(self, total: int, initial: int, quiet: bool):
        self.bar = None
        self.events = 0
        self.t0 = time.perf_counter()
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="traj", dynamic_ncols=True, file=sys.stderr,
                            smoothing=0.05)

    def update(self, n_traj: int, n_events: int):
        self.events += n_events
        if self.bar is not None:
            rate = self.events / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_postfix_str(f"{rate / 1e6:.1f} M events/s", refresh=False)
            self.bar.update(n_traj)

    def close(self):
        if self.bar is not None:
            self.bar.close()
