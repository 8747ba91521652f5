"""Progress of long commands, on stderr: a live bar on a terminal, an occasional plain line elsewhere.

Counted work (``track``: rows) gets rich's bar on a terminal (done, total, rate, time left); a
pipe or a CI log gets one line every ``PLAIN_EVERY_S`` seconds and a last one when the work ends,
and nothing for work shorter than that, so logs stay short. A step that cannot be counted
(``phase``: reading a file, fitting a model) gets a spinner with the time spent, then a line
saying how long it took; in a log that line only for steps longer than ``PLAIN_EVERY_S``.
``set_quiet`` (the CLI's ``--quiet``) turns it all off. Only stderr is used: what a command
prints on stdout stays the same whatever is shown here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

PLAIN_EVERY_S = 10.0
_settings = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Show no progress at all (``--quiet``): for scripts that parse stderr."""
    _settings["quiet"] = quiet


class Tracker:
    """One piece of long work; ``advance`` after each part of it. Shows nothing (quiet, or no display)."""

    def advance(self, amount: int) -> None:
        """Count ``amount`` more units done."""


class _PlainTracker(Tracker):
    """Occasional lines for logs: done, total, rate and time left, every ``PLAIN_EVERY_S`` seconds."""

    def __init__(self, label: str, total: int | None, unit: str, stream: TextIO) -> None:
        self.label, self.total, self.unit, self.stream = label, total, unit, stream
        self.done, self.start = 0, time.monotonic()
        self.last = self.start

    def advance(self, amount: int) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self.last >= PLAIN_EVERY_S:
            self.last = now
            self._line(now, finished=False)

    def finish(self) -> None:
        if self.last > self.start:  # only work that already printed a line says that it ended
            self._line(time.monotonic(), finished=True)

    def _line(self, now: float, *, finished: bool) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        if finished:
            text = f"{self.done:,} {self.unit} in {elapsed:.0f} s ({rate:,.0f} {self.unit}/s)"
        elif self.total:
            left = (self.total - self.done) / rate if rate else float("inf")
            text = (
                f"{self.done:,} of {self.total:,} {self.unit} ({100 * self.done // self.total}%), "
                f"{rate:,.0f} {self.unit}/s, about {left:.0f} s left"
            )
        else:
            text = f"{self.done:,} {self.unit}, {rate:,.0f} {self.unit}/s"
        print(f"{self.label}: {text}", file=self.stream, flush=True)


class _RateColumn(ProgressColumn):
    """Units per second, in the tracker's unit (rich's own speed column counts bytes)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


class _BarTracker(Tracker):
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress, self.task = progress, task

    def advance(self, amount: int) -> None:
        self.progress.advance(self.task, amount)


@contextmanager
def track(label: str, total: int | None = None, unit: str = "rows") -> Iterator[Tracker]:
    """A tracker for work of ``total`` units (None: unknown), shown as suits stderr; ended when the block ends."""
    stream = sys.stderr
    if _settings["quiet"]:
        yield Tracker()
    elif stream.isatty():
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            _RateColumn(unit),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console(file=stream), transient=False) as progress:
            yield _BarTracker(progress, progress.add_task(label, total=total))
    else:
        plain = _PlainTracker(label, total, unit, stream)
        yield plain
        plain.finish()  # not after an error: the error says enough


@contextmanager
def phase(label: str) -> Iterator[None]:
    """One step that cannot be counted; its time is shown when it ends (on a terminal, a spinner meanwhile)."""
    stream = sys.stderr
    start = time.monotonic()
    if _settings["quiet"]:
        yield
        return
    if stream.isatty():
        console = Console(file=stream)
        with console.status(f"{label}..."):
            yield
        console.print(f"{label}: {time.monotonic() - start:.1f} s", style="dim", highlight=False)
        return
    yield
    if (elapsed := time.monotonic() - start) >= PLAIN_EVERY_S:
        print(f"{label}: {elapsed:.0f} s", file=stream, flush=True)
