"""The portal's session signing key: never in the database, only its owner may read it.

It comes from ``$TOKENWORKS_SECRET_KEY`` when that is set (replicas on other machines share
it that way), else from a key file, mode 0600, created on first use: beside a DuckDB store
(``<store>.session-key``), or where registry.toml's ``[portal] secret_key_file`` says, or
(PostgreSQL) ``tokenworks.session-key`` beside registry.toml. ``tokenworks secret rotate``
writes a new key file atomically; a running server notices (the file is re-checked with one
``stat`` per use) and every cookie signed with the old key stops working: everyone is
signed out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from pathlib import Path

from .config import RegistryConfig
from .errors import ConfigError, TokenworksError
from .store import private_files

log = logging.getLogger("tokenworks.secret")
KEY_ENV = "TOKENWORKS_SECRET_KEY"
MIN_LENGTH = 32  # characters; a new key has 64 (48 random bytes, URL-safe base64)


def new_key() -> str:
    return secrets.token_urlsafe(48)


class SecretKey:
    """The current key of one registry; reloads the file when it was replaced."""

    def __init__(self, config: RegistryConfig) -> None:
        self._env = os.environ.get(KEY_ENV) or None
        self.path = None if self._env else config.secret_key_path()
        self._lock = threading.Lock()
        self._key: bytes | None = None
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) of the file

    @property
    def source(self) -> str:
        if self._env:
            return f"${KEY_ENV}"
        return str(self.path) if self.path else "memory (a :memory: store)"

    def current(self) -> bytes:
        if self._env:
            return _checked(self._env, f"${KEY_ENV}").encode()
        with self._lock:
            if self.path is None:  # a throwaway store: a throwaway key
                if self._key is None:
                    self._key = new_key().encode()
                return self._key
            try:
                info = self.path.stat()
            except FileNotFoundError:
                info = None
            if info is None or self._key is None or \
                    (info.st_ino, info.st_mtime_ns, info.st_size) != self._seen:
                self._load(created_now=info is None)
            assert self._key is not None
            return self._key

    def _load(self, created_now: bool) -> None:
        assert self.path is not None
        if created_now:
            if self._key is not None:
                log.warning("the session key file %s is gone: a new key is made, which signs "
                            "everyone out", self.path)
            write_key_file(self.path, new_key(), replace=False)
        else:
            private_files.tighten(self.path, "the session key file",
                                  "Anyone who read it could sign cookies: run "
                                  "`tokenworks secret rotate`.")
        info = self.path.stat()
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read the session key file {self.path}: {error}") from None
        self._key = _checked(text, str(self.path)).encode()
        self._seen = (info.st_ino, info.st_mtime_ns, info.st_size)


def _checked(text: str, where: str) -> str:
    text = text.strip()
    if len(text) < MIN_LENGTH:
        raise ConfigError(
            f"the session key in {where} is too short ({len(text)} characters, at least "
            f"{MIN_LENGTH}): run `tokenworks secret rotate` (or set a longer "
            f"${KEY_ENV})")
    return text


def write_key_file(path: Path, key: str, *, replace: bool) -> None:
    """Write ``key`` to ``path`` with mode 0600, atomically: a reader sees the old key or the
    new one, never a part. ``replace`` False keeps a key another process wrote first."""
    private_files.make_private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, private_files.FILE_MODE)
    try:
        os.fchmod(fd, private_files.FILE_MODE)  # whatever the umask
        data = f"{key}\n".encode()
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to {temporary}")
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            # Fails if another process made one first: theirs is kept, and used.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
            temporary.unlink()
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    private_files.sync_folder(path.parent)


def rotate(config: RegistryConfig) -> Path:
    """Write a new key file (every portal session ends); returns its path."""
    if os.environ.get(KEY_ENV):
        raise TokenworksError(
            f"the session key comes from ${KEY_ENV}: set a new value there (at least "
            f"{MIN_LENGTH} characters) and restart every server")
    path = config.secret_key_path()
    if path is None:
        raise TokenworksError("a :memory: store has no key file: its key lives and dies with "
                              "the process")
    write_key_file(path, new_key(), replace=True)
    return path
