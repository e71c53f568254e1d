"""Progress hooks: ``hook(stage, done, total)`` callables, and a tqdm-backed one for the CLI."""

from __future__ import annotations

import sys
from typing import Callable


def no_progress(stage: str, done: float, total: float) -> None:
    """A hook that ignores progress."""


class TqdmProgress:
    """Shows one tqdm bar per stage on stderr; a new stage closes the previous bar."""

    def __init__(self, prefix: str = "", enabled: bool = True):
        self.prefix, self.enabled = prefix, enabled
        self._bar = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: float, total: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self._stage:
            self.close()
            self._stage = stage
            desc = f"{self.prefix}{stage}" if self.prefix else stage
            self._bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} [{elapsed}<{remaining}]")
        bar = self._bar
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    def close(self) -> None:
        """Close the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


Hook = Callable[[str, float, float], None]
