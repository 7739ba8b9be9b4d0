"""A plugin installed with pip (examples/, through its entry point) shows in both portals,
as the plugin author kit promises; no portal file knows it."""

from __future__ import annotations

import importlib.metadata

import pytest

from .conftest import app_as
from .helpers import texts

DIST, FUNCTION = "tokenworks-occupation-wages", "occupation_wages"


@pytest.fixture
def installed_host(portal):
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{DIST} is not installed (make install does; see tests/test_examples.py)")
    host = portal(builtin=(), entry_points=True)
    host.add_user("alice", password="alice-password", actor="test")
    return host


def test_an_installed_plugin_is_in_the_catalog_and_the_admin_list(installed_host) -> None:
    title = next(v.spec.title for v in installed_host.functions() if v.spec.name == FUNCTION)
    catalog = app_as("alice", "user/catalog.py")
    assert f"#### {title}" in texts(catalog, "markdown")
    admin = app_as("admin", "admin/plugins.py")
    assert FUNCTION in admin.dataframe[1].value["function"].tolist()
