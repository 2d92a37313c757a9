"""Three RabbitMQ nodes of Debian's rabbitmq-server clustered on this machine, beside the
shared node on 5672 and never touching it: each node has its own name, ports, data, logs, pid
file, plugins and config (the system config pins 5672), and they share a cookie of their own."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The scripts themselves: Debian's wrappers in /usr/sbin switch to the rabbitmq user, whose
# cookie is the shared node's; these run as the caller, with a cookie under ``BASE``.
SBIN = Path("/usr/lib/rabbitmq/bin")
# A fixed place, so a run finds and kills the nodes an interrupted run left behind.
BASE = Path(tempfile.gettempdir()) / f"fileflow-cluster-{os.getuid()}"
NAMES = ("ff1", "ff2", "ff3")
FIRST_AMQP_PORT = 5681
FIRST_DIST_PORT = 25681
START_TIMEOUT_S = 120
CTL_TIMEOUT_S = 60


class NodesUnavailable(Exception):
    """The nodes cannot run here; the message says why."""


@dataclass(frozen=True)
class Node:
    name: str
    amqp_port: int
    dist_port: int

    @property
    def nodename(self) -> str:
        return f"{self.name}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def home(self) -> Path:
        return BASE / self.name

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(BASE),  # the cookie: $HOME/.erlang.cookie, one for the three nodes
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.home / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.home / "log"),
            RABBITMQ_PID_FILE=str(self.home / "pid"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(BASE / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.home / "rabbitmq.conf"),
            # Not /etc/rabbitmq/rabbitmq-env.conf, which names the shared node.
            RABBITMQ_CONF_ENV_FILE=str(BASE / "rabbitmq-env.conf"),
        )
        return env

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
            "log.console = false\nlog.file.level = warning\n"
        )

    def pid(self) -> int | None:
        try:
            return int((self.home / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout_s: float = CTL_TIMEOUT_S) -> str:
        done = subprocess.run(
            [str(SBIN / tool), "-n", self.nodename, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise NodesUnavailable(
                f"{tool} {' '.join(args)} on {self.nodename} failed: "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )
        return done.stdout

    def launch(self) -> None:
        """``rabbitmq-server -detached``: returns at once, the node boots on its own."""
        subprocess.run(
            [str(SBIN / "rabbitmq-server"), "-detached"],
            env=self.env(),
            cwd=self.home,
            capture_output=True,
            timeout=CTL_TIMEOUT_S,
            check=True,
        )

    def await_startup(self) -> None:
        """Until the node wrote its pid file and its application runs."""
        self.ctl(
            "wait",
            str(self.home / "pid"),
            "--timeout",
            str(START_TIMEOUT_S),
            timeout_s=START_TIMEOUT_S + 10,
        )

    def kill(self) -> None:
        """SIGKILL, as a machine that dies: no goodbye to its peers or clients."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (ProcessLookupError, OSError):
        return False
    return state != "Z"


def nodes() -> list[Node]:
    return [Node(name, FIRST_AMQP_PORT + i, FIRST_DIST_PORT + i) for i, name in enumerate(NAMES)]


def kill_all() -> None:
    """Every node of ``BASE`` killed and its files removed (this run's or an earlier one's)."""
    for node in nodes():
        node.kill()
    # epmd may still list a killed node's name for a moment; a fresh start re-registers it.
    shutil.rmtree(BASE, ignore_errors=True)


def start_cluster() -> list[Node]:
    """Three fresh nodes, ff2 and ff3 joined to ff1; ``NodesUnavailable`` with the reason when
    they cannot run here."""
    if not (SBIN / "rabbitmq-server").exists():
        raise NodesUnavailable(f"{SBIN}/rabbitmq-server missing: apt-get install rabbitmq-server")
    kill_all()
    BASE.mkdir(parents=True)
    # Written before the nodes start: three nodes creating it at once could read it half done.
    cookie = BASE / ".erlang.cookie"
    cookie.write_text(secrets.token_hex(20).upper())
    cookie.chmod(0o400)
    (BASE / "enabled_plugins").write_text("[].\n")  # no management port to clash with 15672
    (BASE / "rabbitmq-env.conf").write_text("")
    cluster = nodes()
    for node in cluster:
        node.prepare()
        node.launch()
    for node in cluster:
        node.await_startup()
    for node in cluster[1:]:
        node.ctl("stop_app")
        node.ctl("join_cluster", cluster[0].nodename)
        node.ctl("start_app")
    running = cluster[0].ctl("cluster_status", "--formatter", "json")
    if not all(node.nodename in running for node in cluster):
        raise NodesUnavailable(f"the nodes did not form a cluster: {running[:500]}")
    return cluster


def restart(node: Node) -> None:
    (node.home / "pid").unlink(missing_ok=True)  # the killed node's, or ``wait`` reads it
    node.launch()
    node.await_startup()


def queue_leader(cluster: list[Node], queue: str) -> Node:
    """The node holding ``queue``'s Raft leader, as a live node reports it."""
    for asking in cluster:
        if asking.pid() is None or not _alive(asking.pid() or 0):
            continue
        listed = asking.ctl("list_queues", "name", "leader", "--quiet", "--no-table-headers")
        for line in listed.splitlines():
            name, _, leader = line.partition("\t")
            if name == queue:
                return next(node for node in cluster if node.nodename == leader.strip())
    raise AssertionError(f"no live node reports a leader for {queue}")


def connections_on(node: Node) -> int:
    """Client connections ``node`` holds (each node listens on a port of its own)."""
    listed = node.ctl("list_connections", "port", "--quiet", "--no-table-headers")
    return sum(1 for line in listed.splitlines() if line.strip() == str(node.amqp_port))
