"""Terminal rendering of a job's progress: rich bars on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

PLAIN_INTERVAL = 5.0


class ProgressView:
    def __init__(self, out: TextIO, *, tty: bool, job_id: int, source: str) -> None:
        self.out = out
        self.tty = tty
        self.job_id = job_id
        self.source = source
        self.started = time.monotonic()
        self.last_plain = 0.0
        self.progress: Progress | None = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressView:
        self.out.write(f"job {self.job_id}: scanning {self.source}")
        if self.tty:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeRemainingColumn(),
                console=Console(file=self.out, force_terminal=True),
                transient=False,
            )
            self.progress.__enter__()
            self.tasks["discovery"] = self.progress.add_task("discovery", total=None, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def update(self, s: dict[str, Any]) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        discovery = (
            f"{s['files_seen'] / elapsed:.0f} files/s  images {s['images']}  skipped {s['skipped']}  "
            f"errors {s['errors']}"
        )
        if self.progress is None:
            now = time.monotonic()
            if now - self.last_plain >= PLAIN_INTERVAL:
                self.last_plain = now
                stages = "  ".join(p["summary"] for p in s["stages"])
                self.out.write(f"  {s['status']}: files {s['files_seen']}  {discovery}  {stages}")
            return
        finished = s["discovery_finished"]
        self.progress.update(
            self.tasks["discovery"],
            completed=s["files_seen"],
            total=s["files_seen"] if finished else None,
            detail=discovery if finished else f"{discovery}  {s['current_path'][-50:]}",
        )
        for p in s["stages"]:
            if p["stage"] not in self.tasks:
                self.tasks[p["stage"]] = self.progress.add_task(p["stage"], total=None, detail="")
            done = p["done"] + p["failed"] + p["skipped"] + p["unavailable"]
            detail = f"failed {p['failed']}" if p["failed"] else ""
            if p["unavailable"]:
                detail = "unavailable"
            self.progress.update(
                self.tasks[p["stage"]], completed=done, total=p["total"] if finished else None, detail=detail
            )
