"""A small throttled progress bar for the terminal.

It redraws at most every ``min_interval`` seconds, writes to ``stderr`` by
default, and stays silent when the stream is not a terminal (logs, CI, pipes)
unless ``force=True``.
"""

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """Progress over ``total`` units of work.

    Parameters
    ----------
    total : int
        Number of units (steps, examples, bytes) the task will report.
    desc : str
        Label printed before the bar.
    file : text stream, optional
        Where to draw; ``sys.stderr`` by default.
    min_interval : float
        Minimum number of seconds between two redraws.
    force : bool
        Draw even when ``file`` is not a terminal.
    unit : str
        Name of the unit, shown after the counts.
    """

    width = 30

    def __init__(self, total, desc="", file=None, min_interval=0.1, force=False, unit=""):
        self.total = max(int(total), 0)
        self.desc = desc
        self.file = sys.stderr if file is None else file
        self.min_interval = float(min_interval)
        self.unit = unit
        isatty = getattr(self.file, "isatty", None)
        self.enabled = bool(force or (isatty is not None and isatty()))
        self.count = 0
        self.postfix = ""
        self._start = time.perf_counter()
        self._last_draw = -float("inf")

    def update(self, n=1, postfix=None):
        """Advance by ``n`` units; redraw if ``min_interval`` has passed."""
        self.count += n
        if postfix is not None:
            self.postfix = postfix
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw >= self.min_interval or self.count >= self.total:
            self._draw(now)

    def _draw(self, now):
        self._last_draw = now
        frac = min(self.count / self.total, 1.0) if self.total else 1.0
        filled = int(round(frac * self.width))
        bar = "=" * filled + "." * (self.width - filled)
        elapsed = now - self._start
        unit = " " + self.unit if self.unit else ""
        line = f"\r{self.desc} [{bar}] {self.count}/{self.total}{unit} {elapsed:.1f}s"
        if self.postfix:
            line += " " + self.postfix
        self.file.write(line)
        self.file.flush()

    def close(self, postfix=None):
        """Draw the final state and end the line."""
        if postfix is not None:
            self.postfix = postfix
        if self.enabled:
            self._draw(time.perf_counter())
            self.file.write("\n")
            self.file.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
