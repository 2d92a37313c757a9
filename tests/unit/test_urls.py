"""Server URLs: lists of broker nodes, multi-host PostgreSQL DSNs, passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from fileflow_core import adapters
from fileflow_core.settings import Settings
from fileflow_core.store.urls import database_name, describe, with_database
from fileflow_core.urls import check_server_url, hosts, redact_list, split_url_list, sqlite_file

PG = ("postgresql", "postgres")


def test_a_list_of_urls_is_split_and_trimmed() -> None:
    assert split_url_list("amqp://a:1/, amqp://b:2/ ,amqp://c/") == [
        "amqp://a:1/",
        "amqp://b:2/",
        "amqp://c/",
    ]
    assert split_url_list("amqp://only/") == ["amqp://only/"]


def test_an_empty_entry_is_refused_without_its_password() -> None:
    with pytest.raises(ValueError, match="empty entry") as caught:
        split_url_list("amqp://u:secret@a/,,amqp://u:secret@b/")
    assert "secret" not in str(caught.value)


def test_each_password_of_a_list_is_hidden() -> None:
    shown = redact_list("amqp://u:one@a:5672/,amqp://u:two@b:5673/")
    assert shown == "amqp://u:***@a:5672/,amqp://u:***@b:5673/"


def test_a_multi_host_dsn_is_accepted() -> None:
    url = "postgresql://app:pw@h1:5432,h2:5433/files?target_session_attrs=read-write"
    assert check_server_url(url, PG) == url
    assert hosts(url) == [("h1", 5432), ("h2", 5433)]
    assert describe(url) == "h1:5432,h2:5433/files"
    assert database_name(url) == "files"
    assert with_database(url, "postgres") == (
        "postgresql://app:pw@h1:5432,h2:5433/postgres?target_session_attrs=read-write"
    )


def test_a_multi_host_dsn_without_ports_takes_the_default() -> None:
    assert describe("postgresql://h1,[::1]/db") == "h1:5432,::1:5432/db"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://u:pw@h1:5432,h2:x/db", "invalid port 'x'"),
        ("postgresql://u:pw@h1:5432,h2:70000/db", "invalid port '70000'"),
        ("postgresql://u:pw@h1:5432,/db", "empty entry in its list of hosts"),
        ("postgresql://u:pw@h1:0,h2/db", "port 0"),
    ],
)
def test_a_bad_multi_host_dsn_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        check_server_url(url, PG)
    assert "pw" not in str(caught.value)


def test_a_single_host_url_is_checked_as_before() -> None:
    assert describe("postgresql://127.0.0.1:5432/fileflow") == "127.0.0.1:5432/fileflow"
    with pytest.raises(ValueError, match="not a valid URL"):
        check_server_url("postgresql://h:x/db", PG)


def test_the_first_line_names_every_node_without_a_password() -> None:
    settings = Settings(
        amqp_url="amqp://u:one@n1:5672/,amqp://u:two@n2:5672/",
        queue_type="quorum",
        database_url="postgresql://app:pw@h1:5432,h2:5432/db?target_session_attrs=read-write",
    )
    line = adapters.describe(settings)
    assert "PostgreSQL at h1:5432,h2:5432/db;" in line
    assert "RabbitMQ at amqp://u:***@n1:5672/,amqp://u:***@n2:5672/" in line
    assert "queue fileflow.events (quorum)" in line
    assert "one" not in line and "two" not in line and "pw" not in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://data/ff.sqlite3", "names a host ('data')"),
        ("sqlite://~/ff.sqlite3", "sqlite:///~/file.sqlite3 for one in the home folder"),
    ],
)
def test_a_host_in_a_sqlite_url_is_refused(url: str, says: str) -> None:
    """Dropped silently, sqlite://data/ff.sqlite3 would be the file /ff.sqlite3."""
    with pytest.raises(ValueError, match="which a SQLite URL has none of") as raised:
        check_server_url(url, ("sqlite",), host_required=False)
    assert says in str(raised.value)


def test_a_redis_socket_url_keeps_its_password_and_any_host_redis_ignores() -> None:
    for url in ("unix://:pw@/run/redis.sock?db=2", "unix://localhost/run/redis.sock"):
        assert check_server_url(url, ("redis", "unix"), host_required=False) == url


def test_a_sqlite_url_names_an_absolute_file_or_one_in_a_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sqlite_file("sqlite:///srv/ff.sqlite3") == Path("/srv/ff.sqlite3")
    assert sqlite_file("sqlite:////srv/ff.sqlite3") == Path("/srv/ff.sqlite3")
    assert sqlite_file("sqlite:///~/ff.sqlite3") == tmp_path / "ff.sqlite3"
    with pytest.raises(ValueError, match="~nosuchuser, which names no home folder"):
        sqlite_file("sqlite:///~nosuchuser/ff.sqlite3")
