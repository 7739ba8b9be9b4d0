"""Tests for the occupation_wages plugin, with tokenworks.testing."""

from __future__ import annotations

import pytest
import tokenworks_occupation_wages as plugin

from tokenworks.testing import call, check_plugin, registered

NAME = "occupation_wages"


def test_registered_nurses_median_wage_and_outlook() -> None:
    with registered(plugin, name=NAME) as host:
        result = call(host, NAME, {"occupation": "registered nurse"})
    assert result.charged == 2
    heading, metrics, chart = result.blocks[:3]
    assert heading.text.startswith("### Registered Nurses (SOC 29-1141)")
    values = {item.label: item.value for item in metrics.items}
    assert values["Median annual wage"] == "$97,550"   # OEWS May 2025, national
    assert values["Growth 2024-34"] == "+4.9%"
    assert [d["percentile"] for d in chart.spec["data"]["values"]] == [
        "10th", "25th", "Median", "75th", "90th"]


def test_soc_code_lookup_without_the_dash() -> None:
    with registered(plugin, name=NAME) as host:
        result = call(host, NAME, {"occupation": "151252"})
    assert "Software Developers" in result.blocks[0].text
    assert result.kinds() == ["markdown", "metrics", "chart"]  # one match: no table


def test_settings_limit_the_other_matches() -> None:
    with registered(plugin, name=NAME, settings={"max_matches": 2}) as host:
        result = call(host, NAME, {"occupation": "manager"})
    assert len(result.blocks[-1].rows) == 2


def test_no_match_says_so_and_is_still_a_result() -> None:
    with registered(plugin, name=NAME) as host:
        result = call(host, NAME, {"occupation": "zzz-no-such-job"})
    assert result.kinds() == ["markdown"]
    assert "No occupation matches" in result.blocks[0].text


@pytest.mark.parametrize("bad", [{"occupation": "x"}, {}])
def test_bad_input_is_refused(bad: dict) -> None:
    from tokenworks.errors import InvalidInputError

    with registered(plugin, name=NAME) as host, pytest.raises(InvalidInputError):
        call(host, NAME, bad)


def test_the_plugin_meets_the_contract() -> None:
    report = check_plugin(plugin, name=NAME)
    assert report.ok, report.format()
