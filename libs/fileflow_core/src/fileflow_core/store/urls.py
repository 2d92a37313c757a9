"""PostgreSQL URLs: which database, and how to name it in a message. No driver import: the
watcher names the database in its messages without loading asyncpg (a few MB it never uses)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from fileflow_core.urls import hosts


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def describe(url: str) -> str:
    """``host:port/db``, or ``h1:5432,h2:5432/db`` for a multi-host DSN; never credentials."""
    named = hosts(url) or [("", None)]
    where = ",".join(f"{host or 'localhost'}:{port or 5432}" for host, port in named)
    return f"{where}/{database_name(url)}"
