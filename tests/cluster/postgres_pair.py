"""A PostgreSQL primary and a streaming-replication standby of the suite's own, beside the
shared server (never touching it): initdb, pg_basebackup and pg_ctl from Debian's packages, run
as the ``postgres`` user, with data, sockets and logs under one folder removed afterwards.

Replication is synchronous (``synchronous_standby_names = '*'``), the setting that makes a
commit the primary acknowledged survive the primary's loss; the standby's own copy of it is
cleared, so once promoted it commits alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PRIMARY_PORT = 5441
STANDBY_PORT = 5442
STEP_TIMEOUT_S = 120


class PairUnavailable(RuntimeError):
    """The two servers cannot be set up here (no binaries, no postgres user, ports taken)."""


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise PairUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1].parent


@dataclass(frozen=True, slots=True)
class PostgresPair:
    base: Path
    bin: Path

    @property
    def primary(self) -> Path:
        return self.base / "primary"

    @property
    def standby(self) -> Path:
        return self.base / "standby"

    def url(self, database: str) -> str:
        """What an operator gives fileflow: both hosts, the one taking writes wanted."""
        return (
            f"postgresql://postgres@127.0.0.1:{PRIMARY_PORT},127.0.0.1:{STANDBY_PORT}"
            f"/{database}?target_session_attrs=read-write"
        )

    def run(self, tool: str, *args: str) -> str:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise PairUnavailable(f"{tool} {' '.join(args)}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def pid(self, data: Path) -> int:
        return int((data / "postmaster.pid").read_text().split("\n", 1)[0])

    def kill_primary(self) -> None:
        """SIGKILL of the primary's postmaster and every backend: a machine lost at once, with
        no chance to tell the standby or the clients."""
        pid = self.pid(self.primary)
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for process in [pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)

    def promote(self) -> None:
        self.run("pg_ctl", "-D", str(self.standby), "-w", "promote")

    def stop(self) -> None:
        for data in (self.standby, self.primary):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(PairUnavailable, subprocess.SubprocessError):
                    self.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")


def _configure_primary(pair: PostgresPair) -> None:
    with (pair.primary / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {PRIMARY_PORT}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{pair.base}'\nwal_level = replica\n"
            "max_wal_senders = 4\nsynchronous_standby_names = '*'\nfsync = on\n"
        )
    with (pair.primary / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")


def _start(pair: PostgresPair, data: Path, name: str) -> None:
    pair.run("pg_ctl", "-D", str(data), "-l", str(pair.base / f"{name}.log"), "-w", "start")


def _wait_for_sync(pair: PostgresPair) -> None:
    """Until the standby streams as the synchronous one: before that, the primary acknowledges
    commits the standby may not have."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        state = pair.run(
            "psql",
            *("-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres", "-Atc"),
            "SELECT sync_state FROM pg_stat_replication",
        )
        if state.strip() == "sync":
            return
        time.sleep(0.2)
    raise PairUnavailable("the standby never became the synchronous standby")


@contextlib.contextmanager
def postgres_pair(base: Path) -> Iterator[PostgresPair]:
    """A running primary with a synchronous standby; both stopped and removed on exit."""
    if shutil.which("runuser") is None:
        raise PairUnavailable("runuser is missing (PostgreSQL refuses to run as root)")
    pair = PostgresPair(base, _bin_dir())
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    shutil.chown(base, "postgres", "postgres")
    try:
        pair.run("initdb", "-D", str(pair.primary), "--auth=trust", "-U", "postgres")
        _configure_primary(pair)
        _start(pair, pair.primary, "primary")
        pair.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres"),
            *("-D", str(pair.standby), "-R", "-X", "stream"),
        )
        with (pair.standby / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {STANDBY_PORT}\nsynchronous_standby_names = ''\n")
        _start(pair, pair.standby, "standby")
        _wait_for_sync(pair)
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(base, ignore_errors=True)
