"""CPU time and memory of a process, read from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessStats:
    cpu_s: float
    rss_mb: float
    peak_rss_mb: float


def process_stats(pid: int) -> ProcessStats:
    ticks = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
    memory = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                memory[key] = int(value.split()[0]) / 1024
    return ProcessStats(cpu, memory.get("VmRSS", 0.0), memory.get("VmHWM", 0.0))


def tree_stats(pid: int) -> ProcessStats:
    """The process and its children (the extraction workers), summed."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            pids += [int(child) for child in handle.read().split()]
    except OSError:
        pass
    stats = [process_stats(p) for p in pids if os.path.exists(f"/proc/{p}")]
    return ProcessStats(
        sum(s.cpu_s for s in stats), sum(s.rss_mb for s in stats), sum(s.peak_rss_mb for s in stats)
    )


# The local servers, by process name; PostgreSQL's exited backends are counted through the
# postmaster's children time.
SERVER_PROCESSES = {"postgres": "postgresql", "beam.smp": "rabbitmq", "redis-server": "redis"}


def server_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by each local server (all its processes)."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(SERVER_PROCESSES.values(), 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                name = handle.read().strip()
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        server = SERVER_PROCESSES.get("postgres" if name.startswith("postgres") else name)
        if server is None:
            continue
        used = int(fields[11]) + int(fields[12])
        if server == "postgresql":
            used += int(fields[13]) + int(fields[14])
        totals[server] += used / ticks
    return totals
