"""Filesystem type detection for the polling choice, and git metadata read from .git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from file_watcher.gitinfo import git_source
from fileflow_core.mounts import filesystem_of, is_local, needs_polling, parse_mounts

MOUNTS = """\
/dev/vda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
server:/export /mnt/nfs nfs4 rw 0 0
//nas/share /mnt/my\\040share cifs rw 0 0
sshfs#me@host: /home/me/remote fuse.sshfs rw 0 0
overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0
/dev/vdb /mnt/nfs/local-disk xfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "fstype", "polling"),
    [
        ("/home/me/docs", "ext4", False),
        ("/mnt/nfs/photos", "nfs4", True),
        ("/mnt/nfs", "nfs4", True),
        ("/mnt/nfs/local-disk/a", "xfs", False),  # the innermost mount wins
        ("/mnt/my share/x", "cifs", True),  # escaped space in /proc/mounts
        ("/home/me/remote/f", "fuse.sshfs", True),
        ("/var/lib/docker/overlay2/x/merged/app", "overlay", True),
        ("/mnt/nfsother", "ext4", False),  # a prefix of the name is not a parent folder
    ],
)
def test_filesystem_and_polling_choice(path: str, fstype: str, polling: bool) -> None:
    found = filesystem_of(Path(path), parse_mounts(MOUNTS))
    assert found == fstype
    assert needs_polling(found) is polling


def test_unknown_filesystem_uses_notifications() -> None:
    assert needs_polling(None) is False


def test_git_remote_and_branch(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "origin", "https://example.org/r.git"],
        check=True,
    )
    (repo / "docs").mkdir()
    assert git_source(repo / "docs") == {"branch": "trunk", "remote": "https://example.org/r.git"}


def test_no_git_work_tree(tmp_path: Path) -> None:
    assert git_source(tmp_path) is None


@pytest.mark.parametrize(
    ("fstype", "local"),
    [
        ("ext4", True),
        ("xfs", True),
        ("tmpfs", True),
        ("nfs4", False),
        ("fuse.sshfs", False),
        ("overlay", False),
        (None, False),
    ],
)
def test_only_local_filesystems_are_read_on_the_event_loop(fstype: str | None, local: bool) -> None:
    assert is_local(fstype) is local
