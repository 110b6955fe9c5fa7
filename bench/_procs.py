"""CPU time and memory of other processes, read from /proc (Linux), for the scale-out benchmarks.

CPU is counted as utime + stime + cutime + cstime: a server's short-lived children (PostgreSQL backends,
Dovecot's imap processes) are reaped by their parent, and the kernel then adds their time to the parent's
cutime/cstime. So "sum over a process tree, after minus before" counts children that came and went in
between, as long as the tree's root lives through the measurement.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces), or None if gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of the process and its reaped children; 0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    return sum(int(value) for value in fields[11:15]) / TICKS


def _status_mb(pid: int, key: str) -> float:
    for line in _read(PROC / str(pid) / "status").splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB; 0 when it is gone."""
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """The process's resident set now (VmRSS) in MB; 0 when it is gone."""
    return _status_mb(pid, "VmRSS:")


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def pids_named(*names: str) -> list[int]:
    """Processes whose command name (/proc/<pid>/comm) is one of `names`."""
    wanted = set(names)
    return [pid for pid in _all_pids() if _read(PROC / str(pid) / "comm").strip() in wanted]


def pids_with_cmdline(fragment: str) -> list[int]:
    """Processes whose command line contains `fragment`."""
    return [pid for pid in _all_pids() if fragment in _read(PROC / str(pid) / "cmdline").replace("\0", " ")]


def tree(roots: Iterable[int]) -> list[int]:
    """`roots` and all their live descendants."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(pid)
    found: list[int] = []
    pending = list(roots)
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process) since boot, from /proc/stat."""
    values = [int(v) for v in _read(PROC / "stat").splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / TICKS


@dataclass
class CpuMeter:
    """CPU seconds per named group of processes between `start()` and `stop()`. Each group is a function
    returning its pids at the time of asking (so processes started in between are found).

    A group is summed whole (right for a process tree whose root lives throughout: what its children
    used reaches the root when they exit), except the groups named in `per_process`: those count, per
    process, what it used since the start (right for processes without their parent in the group, e.g.
    the PostgreSQL backends of one database). A process of such a group that exits before `stop()` is
    counted up to the last time it was seen: a thread looks every SAMPLE_SECONDS. Without it, the
    backends of connections closed during a run were missed, which put a whole run's PostgreSQL CPU for
    the database at less than half the truth (bench.scale: 0.32 against 0.79 cores)."""

    SAMPLE_SECONDS = 0.25

    groups: dict[str, Callable[[], list[int]]]
    per_process: frozenset[str] = frozenset()
    _before: dict[str, dict[int, float]] = field(default_factory=dict)
    _seen: dict[str, dict[int, float]] = field(default_factory=dict)  # per_process groups: last seen
    _stopping: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def _snapshot(self) -> dict[str, dict[int, float]]:
        taken = {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}
        taken["machine"] = {0: machine_busy_seconds()}
        return taken

    def _look(self) -> None:
        """Remember the CPU of every live process of the per-process groups."""
        for name in self.per_process:
            seen = self._seen.setdefault(name, {})
            for pid in self.groups[name]():
                if (seconds := cpu_seconds(pid)) > 0:  # 0: it exited just now; keep what was seen
                    seen[pid] = seconds

    def _sample(self) -> None:
        while not self._stopping.wait(self.SAMPLE_SECONDS):
            self._look()

    def start(self) -> None:
        self._before = self._snapshot()
        self._seen = {}
        self._stopping.clear()
        self._sampler = threading.Thread(target=self._sample, name="cpu-meter", daemon=True)
        self._sampler.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds used by each group (and "machine": every process) since `start()`."""
        self._stopping.set()
        if self._sampler is not None:
            self._sampler.join()
        self._look()
        used = {}
        for name, after in self._snapshot().items():
            before = self._before.get(name, {})
            if name in self.per_process:
                last = {**self._seen.get(name, {}), **after}
                used[name] = sum(seconds - before.get(pid, 0.0) for pid, seconds in last.items())
            else:
                used[name] = sum(after.values()) - sum(before.values())
        return used


def stack_meter(workers: Callable[[], list[int]], dovecot_config: Path, database: str) -> CpuMeter:
    """A meter of the production stack: the worker processes (and their helpers), PostgreSQL whole and
    the backends of `database` alone, Redis, and the Dovecot instance started with `dovecot_config`."""
    dovecot_master = pids_with_cmdline(f"-c {dovecot_config}")
    return CpuMeter(
        {
            "workers": lambda: tree(workers()),
            "postgres": lambda: pids_named("postgres"),
            "postgres-db": lambda: pids_with_cmdline(f" {database} "),
            "redis": lambda: pids_named("redis-server"),
            "dovecot": lambda: tree(dovecot_master),
        },
        per_process=frozenset({"postgres-db"}),
    )
