"""Server URLs: checked when settings load, and never shown with their credentials."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+(?::[^@/]*)?)@(?P<rest>[^/:]+:.*)$")


def without_userinfo(url: str) -> str:
    """``url`` with any user name and password removed (``https://user:TOKEN@host/r`` →
    ``https://host/r``; ``token@host:path`` → ``host:path``), for what is stored or logged."""
    if "://" not in url:
        match = _SCP_LIKE.match(url)
        return match.group("rest") if match else url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _blind(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


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
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{shown} is not a valid URL ({exc})") from None
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    if parts.scheme not in schemes or not value.startswith(f"{parts.scheme}://"):
        raise ValueError(f"{shown} is not a URL starting with {expected}")
    if host_required and not _has_host(parts):
        raise ValueError(f"{shown} names no host")
    if port == 0:
        raise ValueError(f"{shown} has port 0")
    return value


def _has_host(parts: SplitResult) -> bool:
    # PostgreSQL also takes its host from the query: postgresql:///db?host=/run/postgresql
    return bool(parts.hostname) or "host=" in parts.query
