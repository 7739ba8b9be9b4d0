"""Fuzz the API against its own OpenAPI document (schemathesis, bounded examples).

For every operation, including each function's own calls path with its input model:
no 5xx, every response matches its documented status, media type and schema, and after
every request the books balance (balance == SUM(ledger), holds settled once).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from conftest import write_registry
from hypothesis import HealthCheck, given, settings
from starlette.applications import Starlette

from tokenworks.api.app import mount
from tokenworks.api.settings import ApiSettings
from tokenworks.config import load_registry
from tokenworks.host import Host

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 15
STATE: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzz_host(tmp_path_factory) -> Iterator[Host]:
    folder = tmp_path_factory.mktemp("fuzz")
    plugins = folder / "local_plugins"
    plugins.mkdir()
    from conftest import TEST_PLUGINS

    for name in ("portal_probe.py", "good_plugin.py"):
        (plugins / name).write_text((TEST_PLUGINS / name).read_text())
    path = write_registry(folder, '[store]\npath = "store.duckdb"\n[plugins]\n'
                                  'builtin = ["text_tools"]\nfolder = "local_plugins"\n'
                                  'entry_points = false\n[users]\nstarting_grant = 1000\n')
    host = Host(load_registry(path))
    host.add_user("fuzzer", role="admin", password="fuzzer-password", actor="test")
    _, STATE["key"] = host.create_api_key("fuzzer", "fuzz", actor="test")
    yield host
    host.close()


def test_api_conforms_to_its_schema(fuzz_host: Host) -> None:
    app = Starlette(routes=[mount(lambda: fuzz_host, ApiSettings(rate=10_000, burst=10_000))])
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {STATE['key']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17 + len(fuzz_host.functions())
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:
            case.call_and_validate(headers=headers)
            report = fuzz_host.verify_books()
            assert report.ok, report.problems

        fuzz()
    # The fuzzing reached the functions: some calls ran and were charged, books still fine.
    calls = fuzz_host.calls("fuzzer", limit=10_000)
    assert any(call.status == "succeeded" for call in calls)
    assert fuzz_host.verify_books().ok
