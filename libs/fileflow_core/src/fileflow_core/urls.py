"""Server URLs: checked when settings load, and never shown with their credentials."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

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
