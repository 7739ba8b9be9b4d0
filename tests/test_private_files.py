"""Secrets are files only their owner reads: the store, its WAL, the call journal and the
session key file are 0600 (folders the host makes 0700) whatever the umask, wider modes
left by an earlier process are tightened with a warning, and the key can be rotated."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import write_registry

from tokenworks.config import load_registry
from tokenworks.errors import ConfigError, TokenworksError
from tokenworks.secret_key import KEY_ENV, SecretKey, rotate
from tokenworks.store import DuckDBStore, NewCall, utcnow
from tokenworks.store.private_files import store_files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The most careless umask there is, put back afterwards."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def a_call(call_id: str) -> NewCall:
    return NewCall(call_id, "ann", "probe_ok", "meter_probe", "local", 1, f"hash-{call_id}",
                   "{}", utcnow() + timedelta(seconds=30))


def test_store_files_are_private_whatever_the_umask(tmp_path: Path, open_umask) -> None:
    mine = tmp_path / "project"
    mine.mkdir(mode=0o755)
    path = mine / "made" / "by-the-host" / "store.duckdb"
    store = DuckDBStore(path)
    try:
        store.create_user("ann", "user", "x", 10, actor="t")
        assert Path(f"{path}.wal").exists()  # DuckDB made its WAL while the store is open
        for round_ in range(2):  # a checkpoint deletes the WAL; DuckDB makes it again
            call = a_call(f"c{round_}")
            store.begin_call(call)
            store.finish_call(call, "succeeded", 1.0, "[]")
            store.balance("ann")  # waits for the writer thread
            store._write(lambda cursor: cursor.execute("CHECKPOINT"))
            store.create_user(f"u{round_}", "user", "x", 0, actor="t")
        journal = list(path.parent.glob("store.duckdb.calls-journal.*"))
        files = store_files(path)
        assert journal and Path(f"{path}.wal") in [file for file, _ in files]
        for file, what in files:
            assert mode(file) == (0o700 if file.is_dir() else 0o600), (file, what)
        assert mode(path.parent) == mode(path.parent.parent) == 0o700
        assert mode(mine) == 0o755  # a folder the host did not make is left alone
        assert store.verify_books().ok
    finally:
        store.close()
    assert os.umask(0) == 0  # the process umask is put back when the last store closes


def test_files_left_readable_are_tightened_with_a_warning(tmp_path: Path, open_umask,
                                                          caplog) -> None:
    path = tmp_path / "store.duckdb"
    DuckDBStore(path).close()
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="tokenworks.store"):
        store = DuckDBStore(path)
    store.close()
    assert mode(path) == 0o600
    assert f"the store file {path} was readable by other accounts (mode 0644)" in caplog.text


def key_config(tmp_path: Path, text: str = ""):
    return load_registry(write_registry(tmp_path, f'[store]\npath = "data/store.duckdb"\n{text}'))


def test_the_key_file_is_private_and_rotation_is_atomic(tmp_path: Path, open_umask) -> None:
    config = key_config(tmp_path)
    secret = SecretKey(config)
    assert secret.path == tmp_path / "data" / "store.duckdb.session-key"
    first = secret.current()
    assert len(first) >= 64 and mode(secret.path) == 0o600
    assert mode(secret.path.parent) == 0o700
    assert secret.current() == first  # read once, then only stat'ed
    assert rotate(config) == secret.path
    assert mode(secret.path) == 0o600
    assert secret.current() != first  # the running key object notices the new file
    assert [p.name for p in secret.path.parent.iterdir()] == ["store.duckdb.session-key"]


def test_a_readable_key_file_is_tightened_and_named(tmp_path: Path, open_umask,
                                                    caplog) -> None:
    config = key_config(tmp_path)
    SecretKey(config).current()
    path = config.secret_key_path()
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="tokenworks.store"):
        SecretKey(config).current()
    assert mode(path) == 0o600
    assert "the session key file" in caplog.text and "tokenworks secret rotate" in caplog.text


def test_the_key_may_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    config = key_config(tmp_path)
    monkeypatch.setenv(KEY_ENV, "k" * 40)
    secret = SecretKey(config)
    assert secret.current() == b"k" * 40 and secret.path is None
    assert not config.secret_key_path().exists()  # no file made
    with pytest.raises(TokenworksError, match="restart every server"):
        rotate(config)
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ConfigError, match="too short"):
        SecretKey(config).current()


def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path, open_umask) -> None:
    config = key_config(tmp_path)
    path = config.secret_key_path()
    path.parent.mkdir()
    path.write_text("abc\n")
    with pytest.raises(ConfigError, match=r"too short.*tokenworks secret rotate"):
        SecretKey(config).current()


def test_postgres_keys_live_beside_the_registry_or_where_it_says(tmp_path: Path) -> None:
    url = 'path = "postgresql://tokenworks@db.internal/tokenworks"'
    config = load_registry(write_registry(tmp_path, f"[store]\n{url}\n"))
    assert config.secret_key_path() == tmp_path / "tokenworks.session-key"
    named = load_registry(write_registry(
        tmp_path, f'[store]\n{url}\n[portal]\nsecret_key_file = "/srv/shared/tw.key"\n'))
    assert named.secret_key_path() == Path("/srv/shared/tw.key")


def test_the_rotate_command_writes_a_private_key(tmp_path: Path) -> None:
    registry = write_registry(tmp_path, '[store]\npath = "store.duckdb"\n')
    env = {key: value for key, value in os.environ.items() if key != KEY_ENV}
    runs = [subprocess.run(
        [sys.executable, "-c", "import os; os.umask(0); "
         "from tokenworks.cli import main; main()", "--registry", str(registry),
         "secret", "rotate"], capture_output=True, text=True, env=env, timeout=120)
        for _ in range(2)]
    path = tmp_path / "store.duckdb.session-key"
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    assert f"wrote a new session key to {path}" in runs[0].stdout
    assert mode(path) == 0o600
