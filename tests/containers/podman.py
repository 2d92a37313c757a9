"""podman for the container suite: its configuration, the base and uv images, builds, runs.

No container registry is needed. The base image is a Debian bookworm root made by debootstrap
from Debian's archive (Python 3.11 from Debian), the uv image holds the binaries of PyPI's
``uv`` wheel. Both are tagged with a digest of their recipe and kept in podman's image store,
so later runs reuse them.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
PREREQS = "bash scripts/containers-prereqs.sh"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fileflow-containers"

# runc rather than crun, cgroupfs rather than systemd, and no default ulimits: podman cannot
# set rlimits in a sandbox that forbids setrlimit on it.
CONTAINERS_CONF = """\
# Written by fileflow's container suite (tests/containers/podman.py).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_SOURCES = f"""\
deb {DEBIAN_MIRROR} bookworm main
deb {DEBIAN_MIRROR} bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
"""
# As in Debian's slim images: packages installed later skip documentation and translations.
BASE_DPKG_EXCLUDES = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
"""
BASE_TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/man", "usr/share/info")
BASE_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
)
BASE_RECIPE_VERSION = 1

BUILD_TIMEOUT_S = 1800
COMMAND_TIMEOUT_S = 120


class PodmanError(RuntimeError):
    pass


def environment() -> dict[str, str]:
    """The environment of every podman command here: the suite's containers.conf unless the
    caller set CONTAINERS_CONF."""
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:
        conf = CACHE_DIR / "containers.conf"
        if not conf.is_file() or conf.read_text() != CONTAINERS_CONF:
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(CONTAINERS_CONF)
        env["CONTAINERS_CONF"] = str(conf)
    return env


def podman(
    *args: str, timeout_s: float = COMMAND_TIMEOUT_S, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["podman", *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        input=input,
    )
    if check and done.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def missing_prerequisites() -> str | None:
    """Why the suite cannot run here, or None."""
    if shutil.which("podman") is None:
        return f"podman is not installed; run `{PREREQS}`"
    if os.geteuid() != 0:
        return "the container suite runs rootful podman and debootstrap: run it as root"
    if shutil.which("debootstrap") is None:
        return f"debootstrap is not installed; run `{PREREQS}`"
    try:
        podman("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout_s=60)
    except (PodmanError, subprocess.TimeoutExpired) as exc:
        return f"podman does not work here ({exc}); run `{PREREQS}`"
    return None


def image_exists(tag: str) -> bool:
    return podman("image", "exists", tag, check=False).returncode == 0


def image_size_bytes(tag: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def _digest(recipe: object) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _import(root: Path, tag: str, changes: tuple[str, ...]) -> None:
    """``podman import`` of a directory tree, owners and modes kept."""
    change_args = [arg for change in changes for arg in ("--change", change)]
    with subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE
    ) as tar:
        done = subprocess.run(
            ["podman", "import", *change_args, "-", tag],
            stdin=tar.stdout,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S * 5,
            check=False,
        )
    if tar.returncode != 0 or done.returncode != 0:
        raise PodmanError(f"podman import {tag} failed: {done.stderr}")


def base_image() -> str:
    """A Debian bookworm image with Python 3.11, made by debootstrap from Debian's archive."""
    recipe = {
        "version": BASE_RECIPE_VERSION,
        "suite": DEBIAN_SUITE,
        "mirror": DEBIAN_MIRROR,
        "packages": BASE_PACKAGES,
        "sources": BASE_SOURCES,
        "dpkg_excludes": BASE_DPKG_EXCLUDES,
        "trim": BASE_TRIM,
        "env": BASE_ENV,
    }
    tag = f"localhost/fileflow-containers/base:{DEBIAN_SUITE}-{_digest(recipe)}"
    if image_exists(tag):
        return tag
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="debootstrap-") as work:
        root = Path(work) / "root"
        started = time.monotonic()
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE,
                str(root),
                DEBIAN_MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise PodmanError(f"debootstrap failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        (root / "etc/apt/sources.list").write_text(BASE_SOURCES)
        (root / "etc/dpkg/dpkg.cfg.d/fileflow-slim").write_text(BASE_DPKG_EXCLUDES)
        for relative in BASE_TRIM:
            for entry in (root / relative).glob("*"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                elif entry.name != "lock":
                    entry.unlink()
        for doc in (root / "usr/share/doc").glob("*"):
            for entry in doc.iterdir() if doc.is_dir() and not doc.is_symlink() else ():
                if entry.name != "copyright":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.rmtree(root / "usr/share/locale", ignore_errors=True)
        (root / "usr/share/locale").mkdir()
        _import(root, tag, (*(f"ENV={env}" for env in BASE_ENV), 'CMD ["/bin/bash"]'))
        print(f"\nbase image {tag}: debootstrap and import in {time.monotonic() - started:.0f} s")
    return tag


def uv_version() -> str:
    """The uv version the Dockerfile pins (its UV_IMAGE default)."""
    found = re.search(r"^ARG UV_IMAGE=\S+:(\d+\.\d+\.\d+)$", DOCKERFILE.read_text(), re.M)
    if found is None:
        raise PodmanError(f"{DOCKERFILE} pins no uv version in ARG UV_IMAGE")
    return found.group(1)


def uv_image() -> str:
    """An image holding /uv and /uvx, as the official uv image does, from PyPI's uv wheel."""
    version = uv_version()
    arch = platform.machine()
    tag = f"localhost/fileflow-containers/uv:{version}"
    if image_exists(tag):
        return tag
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise PodmanError("uv is not on PATH")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="uv-wheel-") as work:
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                work,
                "--python-platform",
                f"{arch}-manylinux_2_28",
                f"uv=={version}",
            ],
            check=True,
            timeout=COMMAND_TIMEOUT_S * 5,
        )
        root = Path(work) / "image"
        root.mkdir()
        for name in ("uv", "uvx"):
            shutil.copy2(Path(work) / "bin" / name, root / name)
        _import(root, tag, ())
    return tag


def ca_bundle() -> Path | None:
    """The host's CA bundle, which the image build needs when PyPI answers through a proxy
    that presents its own certificate; handed in as a build secret, never baked in."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@dataclass(frozen=True)
class Build:
    tag: str
    seconds: float
    size_bytes: int


def build(target: str, tag: str, *, base: str, uv: str) -> Build:
    """One target of docker/Dockerfile, on the given base and uv images."""
    secret = ca_bundle()
    started = time.monotonic()
    done = podman(
        "build",
        "--format",
        "docker",  # HEALTHCHECK is kept only in Docker's image format
        "--file",
        str(DOCKERFILE),
        "--target",
        target,
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "--build-arg",
        f"UV_IMAGE={uv}",
        *(["--secret", f"id=cacert,src={secret}"] if secret else []),
        "--tag",
        tag,
        str(REPO),
        timeout_s=BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise PodmanError(f"building {target} failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return Build(tag, time.monotonic() - started, image_size_bytes(tag))


def inspect(name: str, template: str) -> str:
    return podman("inspect", "--format", template, name).stdout.strip()


def healthcheck(name: str) -> bool:
    """Run the container's HEALTHCHECK once, as podman's timer would (there is no systemd
    here to run it): True when it passed."""
    return podman("healthcheck", "run", name, check=False).returncode == 0


def wait_healthy(name: str, timeout_s: float) -> float:
    """Seconds until the container's healthcheck passes; fails with its logs past timeout_s."""
    started = time.monotonic()
    while not healthcheck(name):
        if time.monotonic() - started > timeout_s:
            logs = podman("logs", "--tail", "30", name, check=False)
            raise AssertionError(f"{name} not healthy after {timeout_s} s:\n{logs.stdout}")
        time.sleep(1)
    return time.monotonic() - started


def remove_containers(*names: str) -> None:
    if names:
        podman("rm", "--force", "--time", "5", "--ignore", *names, check=False)


def json_logs(name: str) -> list[dict[str, object]]:
    """The service's log lines (JSON on stderr) as dicts; other lines are skipped."""
    done = podman("logs", name, check=False)
    found = []
    for line in (done.stdout + done.stderr).splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found
