"""The built-in plugins pass the same contract checker plugin authors run."""

from __future__ import annotations

import pytest

from tokenworks.testing import check_plugin


def test_text_tools_meets_the_contract() -> None:
    report = check_plugin("tokenworks.plugins.text_tools")
    assert report.ok, report.format()


@pytest.mark.slow  # runs every job-title example twice on the real data (~25 s)
def test_job_titles_meets_the_contract() -> None:
    report = check_plugin("tokenworks.plugins.job_titles")
    assert report.ok, report.format()
    assert report.plugin == "job_titles"
