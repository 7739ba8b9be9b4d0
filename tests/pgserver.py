"""The PostgreSQL server tests may use, and throwaway databases on it.

$TOKENWORKS_TEST_POSTGRES is a libpq URL of a server where tests may CREATE and DROP
DATABASE (tests/pg_cluster.sh starts one; .ci/run does). Without it the PostgreSQL tests
skip and say why, unless $TOKENWORKS_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

URL_ENV = "TOKENWORKS_TEST_POSTGRES"
REQUIRE_ENV = "TOKENWORKS_REQUIRE_POSTGRES"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires PostgreSQL")
    pytest.skip(reason)


def server_url() -> str:
    """The test server's URL, or skip (fail when required) with the reason."""
    url = os.environ.get(URL_ENV)
    if not url:
        _unavailable(f"no PostgreSQL server: set {URL_ENV} (tests/pg_cluster.sh starts one)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[test]')")
    return url  # type: ignore[return-value]


def database_url(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A new empty database on the test server, dropped at the end; yields its URL."""
    import psycopg
    from psycopg import sql

    url = server_url()
    name = f"tw_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        _unavailable(f"PostgreSQL at {URL_ENV} is unreachable: {str(error).strip()[:200]}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
