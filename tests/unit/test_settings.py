"""Settings: roots parsing, defaults, and bad environment turned into a named ConfigError."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fileflow_core.errors import ConfigError
from fileflow_core.settings import Settings, load_settings, parse_roots, root_id_for
from fileflow_core.urls import sqlite_file


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("FILEFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def test_parse_roots_with_ids() -> None:
    roots = parse_roots("music=/srv/music, docs = /srv/docs ")
    assert [(r.id, r.path) for r in roots] == [
        ("music", Path("/srv/music")),
        ("docs", Path("/srv/docs")),
    ]
    assert all(r.recursive for r in roots)


def test_parse_roots_bare_paths_take_folder_name() -> None:
    roots = parse_roots("/srv/My Photos!,/data/notes")
    assert [r.id for r in roots] == ["My-Photos", "notes"]
    assert roots[0].path == Path("/srv/My Photos!")


def test_parse_roots_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (root,) = parse_roots("h=~/inbox")
    assert root.path == tmp_path / "inbox"


def test_state_and_data_folders_expand_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A value no shell expanded (a compose, systemd or .env file) names the home folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FILEFLOW_STATE_DIR", "~/fileflow-state")
    monkeypatch.setenv("FILEFLOW_DATA_DIR", "~/fileflow-data")
    settings = load_settings()
    assert settings.state_dir == tmp_path / "fileflow-state"
    assert settings.data_dir == tmp_path / "fileflow-data"


def test_a_config_file_named_and_filled_with_home_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """FILEFLOW_CONFIG=~/fileflow.toml, and roots and folders under ~ in it, as from a
    systemd unit: the same home folder a shell would have given."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "fileflow.toml").write_text(
        'state_dir = "~/state"\n[[roots]]\nid = "lib"\npath = "~/library"\n'
    )
    settings = load_settings(Path("~/fileflow.toml"))
    assert settings.state_dir == tmp_path / "state"
    assert [root.path for root in settings.roots] == [tmp_path / "library"]


def test_a_relative_data_folder_is_where_the_command_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """FILEFLOW_DATA_DIR=data: the embedded store is ./data/fileflow.sqlite3, never the
    /data/fileflow.sqlite3 that "sqlite:///data/..." would name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FILEFLOW_DATA_DIR", "data")
    monkeypatch.setenv("FILEFLOW_STATE_DIR", "state")
    settings = load_settings()
    assert settings.state_dir == tmp_path / "state"
    database_url = settings.in_one_process().database_url
    assert sqlite_file(database_url) == tmp_path / "data" / "fileflow.sqlite3"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FILEFLOW_ROOTS", "lib=~nosuchuser/library"),
        ("FILEFLOW_STATE_DIR", "~nosuchuser/state"),
        ("FILEFLOW_DATABASE_URL", "sqlite:///~nosuchuser/ff.sqlite3"),
    ],
)
def test_a_home_folder_of_no_user_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert variable in str(raised.value)
    assert "~nosuchuser, which names no home folder here" in str(raised.value)


def test_a_config_file_under_the_home_of_no_user_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file '~nosuchuser/ff\.toml' starts with"):
        load_settings(Path("~nosuchuser/ff.toml"))


def test_parse_roots_skips_empty_items() -> None:
    assert parse_roots("") == []
    assert [r.id for r in parse_roots(",a=/x,, ,b=/y,")] == ["a", "b"]


def test_parse_roots_rejects_duplicate_ids() -> None:
    with pytest.raises(ValueError, match="repeated: a"):
        parse_roots("a=/x,b=/y,a=/z")


def test_parse_roots_rejects_duplicate_derived_ids() -> None:
    with pytest.raises(ValueError, match="notes"):
        parse_roots("/one/notes,/two/notes")


@pytest.mark.parametrize("path", ["/", "/srv/.hidden", "/srv/_x", "/srv/" + "n" * 100])
def test_root_id_for_is_always_valid(path: str) -> None:
    (root,) = parse_roots(path)
    assert root.id == root_id_for(Path(path))
    assert 1 <= len(root.id) <= 64


def test_defaults() -> None:
    settings = load_settings()
    assert settings.concurrency == 100
    # Its slots, their commit places and one set more.
    assert settings.effective_prefetch == 400
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.queue_name == "fileflow.events"
    assert settings.roots == []


def test_env_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEFLOW_CONCURRENCY", "7")
    monkeypatch.setenv("FILEFLOW_PREFETCH", "3")
    monkeypatch.setenv("FILEFLOW_ROOTS", "lib=/srv/lib")
    settings = load_settings()
    assert settings.concurrency == 7
    assert settings.effective_prefetch == 3
    root = settings.root("lib")
    assert root is not None
    assert root.path == Path("/srv/lib")
    assert settings.root("other") is None


def test_state_dir_defaults_under_xdg(tmp_path: Path) -> None:
    assert load_settings().state_dir == tmp_path / "xdg" / "fileflow"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FILEFLOW_CONCURRENCY", "abc"),
        ("FILEFLOW_CONCURRENCY", "0"),
        ("FILEFLOW_CONCURRENCY", "10001"),
        ("FILEFLOW_PREFETCH", "0"),
        ("FILEFLOW_MAX_ATTEMPTS", "0"),
        ("FILEFLOW_RETRY_BASE_DELAY_S", "0"),
        ("FILEFLOW_QUEUE_NAME", "has space"),
        ("FILEFLOW_LOG_LEVEL", "LOUD"),
        ("FILEFLOW_ROOTS", "a=/x,a=/y"),
        ("FILEFLOW_ROOTS", "bad id=/x"),
    ],
)
def test_bad_env_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert name in str(info.value)


def test_every_problem_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEFLOW_CONCURRENCY", "abc")
    monkeypatch.setenv("FILEFLOW_MAX_BACKLOG", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "FILEFLOW_CONCURRENCY" in str(info.value)
    assert "FILEFLOW_MAX_BACKLOG" in str(info.value)


def test_overrides_win_and_are_validated() -> None:
    assert load_settings(concurrency=5).concurrency == 5
    with pytest.raises(ConfigError, match="FILEFLOW_CONCURRENCY"):
        load_settings(concurrency=-1)


def test_a_deployments_own_variables_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FILEFLOW_NOT_A_SETTING",
        "FILEFLOW_LIBRARY",
        "FILEFLOW_DB_APP_PASSWORD",
        "FILEFLOW_TEST_AMQP_URL",
        "FILEFLOW_PERF_FILES",
    ):
        monkeypatch.setenv(name, "x")
    assert isinstance(load_settings(), Settings)


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("FILEFLOW_CONCURENCY", "FILEFLOW_CONCURRENCY"),
        ("FILEFLOW_MAX_ATEMPTS", "FILEFLOW_MAX_ATTEMPTS"),
        ("FILEFLOW_ROOT", "FILEFLOW_ROOTS"),
        ("fileflow_loglevel", "FILEFLOW_LOG_LEVEL"),
        ("FILEFLOW_DATABSE_URL", "FILEFLOW_DATABASE_URL"),
    ],
)
def test_a_misspelt_setting_stops_with_the_name_meant(
    monkeypatch: pytest.MonkeyPatch, variable: str, meant: str
) -> None:
    monkeypatch.setenv(variable, "3")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"{variable} is not a setting")
    assert f"did you mean {meant}?" in str(raised.value)


def test_a_config_file_key_that_is_not_a_setting_stops(tmp_path: Path) -> None:
    config = tmp_path / "fileflow.toml"
    config.write_text('concurency = 5\nfoo = 1\n[[roots]]\nid = "a"\npath = "/srv/a"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert "'concurency' is not a setting: did you mean 'concurrency'?" in str(raised.value)
    assert "'foo' is not a setting" in str(raised.value)
    config.write_text('concurrency = 5\n[[roots]]\nid = "a"\npath = "/srv/a"\n')
    assert load_settings(config).concurrency == 5


def test_queue_type_is_classic_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().queue_type == "classic"
    monkeypatch.setenv("FILEFLOW_QUEUE_TYPE", "quorum")
    assert load_settings().queue_type == "quorum"
    monkeypatch.setenv("FILEFLOW_QUEUE_TYPE", "mirrored")
    with pytest.raises(ConfigError, match="FILEFLOW_QUEUE_TYPE"):
        load_settings()


def test_amqp_url_takes_a_list_of_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FILEFLOW_AMQP_URL", "amqp://u:pw@n1:5672/, amqp://u:pw@n2:5672/,amqps://u:pw@n3/"
    )
    assert load_settings().amqp_urls == [
        "amqp://u:pw@n1:5672/",
        "amqp://u:pw@n2:5672/",
        "amqps://u:pw@n3/",
    ]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("amqp://u:pw@n1/,redis://u:pw@n2/", "not a URL starting with amqp://"),
        ("memory://,memory://", "every URL starts with amqp://"),
        ("amqp://u:pw@n1/,", "empty entry"),
        ("amqp://u:pw@n1/,amqp://u:pw@:5672/", "names no host"),
    ],
)
def test_a_bad_list_of_nodes_is_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("FILEFLOW_AMQP_URL", value)
    with pytest.raises(ConfigError, match=says) as caught:
        load_settings()
    assert str(caught.value).startswith("invalid setting: FILEFLOW_AMQP_URL")
    assert "pw" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_database_url_takes_a_multi_host_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://app:pw@h1:5432,h2:5432/db?target_session_attrs=read-write"
    monkeypatch.setenv("FILEFLOW_DATABASE_URL", url)
    assert load_settings().database_url == url
