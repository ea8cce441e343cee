"""CPU time and memory of a process together with every process it started, read from /proc (Linux).

The embedded scan probes files in worker processes started through a fork server (evidence.probe): its own
rusage leaves them out, and a worker's rusage reaches neither the scanning process (the fork server reaps it) nor
the benchmark. These readings add them up."""

from __future__ import annotations

import os
import threading
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int, task: str = "") -> list[str]:
    """The fields of /proc/PID/stat (or of one thread's, /proc/PID/task/TID/stat) after the command name."""
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return Path(f"/proc/{pid}{task}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and those they started, alive now."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(name))[1]), []).append(int(name))
            except (OSError, IndexError):
                continue  # gone in the meantime
    found, todo = [], list(children.get(pid, []))
    while todo:
        found.append(current := todo.pop())
        todo += children.get(current, [])
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes still alive (their ended threads included)."""
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = _cpu(_stat_fields(pid))
        except OSError:
            continue
    return seconds


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process alive now, by thread id."""
    seconds = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds[int(task)] = _cpu(_stat_fields(pid, f"/task/{task}"))
        except OSError:
            continue  # the thread ended
    return seconds


def peak_rss_mb(pids: list[int]) -> float:
    """The sum of the processes' own peak resident sizes (VmHWM): at least the peak of the sum, and more only by
    pages they share (a fork server's imports) or peaks at different times. An upper bound, never an
    underestimate."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return total / 1024


class DescendantsWatch:
    """Watches the descendants of a running process until `stop()`: the largest `peak_rss_mb` of them all seen,
    and each one's last CPU reading (what a process spends after its last reading, at most one interval, is not
    counted)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.peak_mb = 0.0
        self._cpu: dict[int, float] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="descendants-watch", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pids = descendants(self.pid)
        self.peak_mb = max(self.peak_mb, peak_rss_mb(pids))
        self._cpu.update(cpu_seconds(pids))

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self._read()

    def stop(self) -> tuple[float, float]:
        """(Peak RSS in MB, CPU seconds) of the descendants."""
        self._stopped.set()
        self._thread.join()
        return self.peak_mb, sum(self._cpu.values())
