"""Server URLs: checked when settings load, and never shown with their credentials."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from fileflow_core.paths import expand_home

_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+(?::[^@/]*)?)@(?P<rest>[^/:]+:.*)$")


def without_userinfo(url: str) -> str:
    """``url`` without its credentials, for what is stored or logged. Over HTTP a user name may
    be the token itself (``https://TOKEN@host/r``), so all of it goes; over SSH the user is
    only who logs in (``git@host:team/r.git`` stays), and only a password goes."""
    if "://" not in url:
        match = _SCP_LIKE.match(url)
        if match is None or ":" not in match.group("user"):
            return url
        return f"{match.group('user').partition(':')[0]}@{match.group('rest')}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return _blind(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme in ("ssh", "git+ssh", "ssh+git") and ":" not in userinfo:
        return url
    keep = f"{userinfo.partition(':')[0]}@" if parts.scheme in ("ssh", "git+ssh", "ssh+git") else ""
    return urlunsplit(parts._replace(netloc=keep + host))


def redact(url: str) -> str:
    """``url`` for an error message: the user name kept, the password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _blind(url)
    if "@" not in parts.netloc:
        return url if "://" in url or "@" not in url else _blind(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(
        parts._replace(netloc=f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}")
    )


def _blind(text: str) -> str:
    # Not a URL we can take apart: keep only what cannot be a secret.
    return re.sub(r"[^@/]*@", "***@", text)


def check_server_url(value: str, schemes: tuple[str, ...], *, host_required: bool = True) -> str:
    """``value`` if it is a URL with one of ``schemes``, a host and a numeric port; else
    ``ValueError`` saying what is wrong, with the URL's password hidden."""
    shown = redact(value)
    try:
        parts = urlsplit(value)
        # urlsplit reads one host only: a multi-host DSN's hosts are checked one by one.
        ports = [port for _, port in hosts(value)] if "," in parts.netloc else [parts.port]
    except ValueError as exc:
        if str(exc).startswith(shown):
            raise
        raise ValueError(f"{shown} is not a valid URL ({exc})") from None
    if "," in parts.netloc and not all(host for host, _ in hosts(value)):
        raise ValueError(f"{shown} has an empty entry in its list of hosts")
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    if parts.scheme not in schemes or not value.startswith(f"{parts.scheme}://"):
        raise ValueError(f"{shown} is not a URL starting with {expected}")
    if host_required and not _has_host(parts):
        raise ValueError(f"{shown} names no host")
    if parts.scheme == "sqlite" and parts.hostname:
        # Dropped silently, "sqlite://data/ff.sqlite3" would be the file /ff.sqlite3. (Redis
        # ignores a host in unix:// and takes the path as written, so that one is left be.)
        raise ValueError(
            f"{shown} names a host ({parts.hostname!r}), which a SQLite URL has none of: write "
            "sqlite:///path/to/file.sqlite3 (three slashes, then the absolute path; "
            "sqlite:///~/file.sqlite3 for one in the home folder)"
        )
    if 0 in ports:
        raise ValueError(f"{shown} has port 0")
    return value


def sqlite_file(url: str) -> Path:
    """``sqlite:///abs/file.sqlite3`` (or ``sqlite:////abs/...``) → ``/abs/file.sqlite3``;
    ``sqlite:///~/file.sqlite3`` → the file in the home folder (``~user`` in that user's)."""
    path = urlsplit(url).path
    if path.startswith(("//", "/~")):
        path = path[1:]
    return expand_home(Path(path))


def split_url_list(value: str) -> list[str]:
    """``a,b,c`` → its URLs (spaces around them dropped); ``ValueError`` for an empty entry."""
    urls = [part.strip() for part in value.split(",")]
    if not all(urls):
        raise ValueError(f"{redact_list(value)} has an empty entry; separate URLs with one comma")
    return urls


def redact_list(value: str) -> str:
    """A comma-separated list of URLs for a message, each one's password hidden."""
    return ",".join(redact(part.strip()) for part in value.split(","))


def hosts(url: str) -> list[tuple[str, int | None]]:
    """The (host, port) pairs a URL names: one, or several for a multi-host DSN such as
    PostgreSQL's ``postgresql://h1:5432,h2:5432/db``. ``ValueError`` for a port that is not a
    number from 1 to 65535."""
    hostinfo = urlsplit(url).netloc.rpartition("@")[2]
    return [_host_port(item, url) for item in hostinfo.split(",")] if hostinfo else []


def _host_port(item: str, url: str) -> tuple[str, int | None]:
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not port:
        return host, None
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{redact(url)} has an invalid port {port!r}")
    return host, int(port)


def _has_host(parts: SplitResult) -> bool:
    # PostgreSQL also takes its host from the query: postgresql:///db?host=/run/postgresql
    return bool(parts.hostname) or "host=" in parts.query or "," in parts.netloc
