"""The five job-title functions on the real data, called through a real Host and meter."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from markdown_it import MarkdownIt
from PIL import Image as PILImage

from tokenworks import blocks
from tokenworks.errors import InvalidInputError
from tokenworks.host import Host
from tokenworks.meter import CallOutcome
from tokenworks.plugins.job_titles.data import get_data
from tokenworks.plugins.job_titles.functions.market import outlook
from tokenworks.plugins.job_titles.functions.states import STATES

USER = "tess"
COSTS = {"generate_word_cloud": 5, "analyze_job_title": 7, "get_career_pathways": 7,
         "get_market_intelligence": 7, "get_title_relationships": 5}


@pytest.fixture
def host(make_host: Callable[..., Host]) -> Host:
    host = make_host(builtin=("job_titles",), store=":memory:", sweep=False)
    host._store.create_user(USER, "user", "x", 10_000, actor="test")
    return host


def call(host: Host, function: str, **payload: Any) -> CallOutcome:
    """Call, check the charge matches the outcome, and return it."""
    before = host.balance(USER)
    outcome = host.call(function, USER, payload)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.charged == COSTS[function]
    assert host.balance(USER) == before - COSTS[function]
    return outcome


def of_kind(outcome: CallOutcome, kind: str) -> list[Any]:
    return [b for b in outcome.blocks if b.kind == kind]


def table(outcome: CallOutcome, starts: str) -> blocks.Table:
    return next(b for b in of_kind(outcome, "table") if (b.title or "").startswith(starts))


def text(outcome: CallOutcome) -> str:
    return "\n".join(b.text for b in of_kind(outcome, "markdown"))


def metric(outcome: CallOutcome, label: str) -> Any:
    items = [i for b in of_kind(outcome, "metrics") for i in b.items]
    return next(i.value for i in items if i.label == label)


# -- the plugin ------------------------------------------------------------------------------

def test_plugin_registers_five_functions_with_their_costs(host: Host) -> None:
    record = host.plugin("job_titles").plugin
    assert record is not None and record.status == "loaded", record
    views = {v.spec.name: v for v in host.functions()}
    assert {name: views[name].cost for name in COSTS} == COSTS
    for name in COSTS:
        spec = views[name].spec
        assert len(spec.examples) >= 3 and spec.description and spec.category == "job titles"
    credit = record.attribution or ""
    assert "O\\*NET 29.3" in credit and "BLS.gov cannot vouch" in credit and "ESCO" in credit


def test_every_example_runs_and_is_charged(host: Host) -> None:
    for view in host.functions():
        if view.spec.name in COSTS:
            for example in view.spec.examples:
                call(host, view.spec.name, **example)


def test_state_list_matches_the_wage_data() -> None:
    assert get_data().states == STATES


# -- analyze_job_title -----------------------------------------------------------------------

@pytest.mark.parametrize(("title", "code"), [
    ("Data Scientist", "15-2051.00"),
    ("RN", "29-1141.00"),
    ("Sr. Software Engineer", "15-1252.00"),
    ("Truck Driver", "53-3032.00"),
])
def test_analyze_known_titles(host: Host, title: str, code: str) -> None:
    outcome = call(host, "analyze_job_title", title=title)
    assert metric(outcome, "Occupation") == code
    assert table(outcome, "Best matches").rows[0][1] == code
    hierarchy = table(outcome, "SOC hierarchy").records()
    assert hierarchy[0]["code"] == code[:2] + "-0000" and hierarchy[-1]["code"] == code
    assert "Job Zone" in text(outcome)
    assert table(outcome, "Typical education").rows
    assert table(outcome, "Key tasks").rows
    assert table(outcome, "Hot and in-demand").rows


def test_analyze_reads_seniority(host: Host) -> None:
    outcome = call(host, "analyze_job_title", title="Sr. Software Engineer")
    assert metric(outcome, "Seniority") == "Senior"
    assert "senior software engineer" in text(outcome)


def test_analyze_falls_back_to_technology_where_skills_are_unrated(host: Host) -> None:
    unrated = call(host, "analyze_job_title", title="Data Scientist")
    assert table(unrated, "Technology skill areas").rows
    assert "no skill or knowledge ratings" in text(unrated)
    rated = call(host, "analyze_job_title", title="Registered Nurse")
    kinds = {row[0] for row in table(rated, "Top skills and knowledge").rows}
    assert kinds == {"skill", "knowledge"}


def test_analyze_accepts_an_onet_code(host: Host) -> None:
    outcome = call(host, "analyze_job_title", title="53-3032.00")
    assert metric(outcome, "Occupation") == "53-3032.00"
    assert "given by its code" in text(outcome)


# -- get_career_pathways ---------------------------------------------------------------------

def test_pathways_graph_table_and_note(host: Host) -> None:
    outcome = call(host, "get_career_pathways", title="Registered Nurse")
    graph = of_kind(outcome, "graph")[0]
    assert graph.directed and len(graph.nodes) > 3 and graph.edges
    assert {n.group for n in graph.nodes} >= {"this occupation", "next step"}
    steps = table(outcome, "Steps").records()
    assert len(steps) == len(graph.edges)
    assert {"Nurse Practitioners", "Nurse Anesthetists"} & {s["occupation"] for s in steps}
    for step in steps:
        if step["kind"] == "next step":
            assert (step["zone change"] or 0) > 0 or (step["wage change %"] or 0) >= 10
    assert "not observed career moves" in text(outcome)


def test_pathways_kinds_filter(host: Host) -> None:
    outcome = call(host, "get_career_pathways", title="Data Scientist", kinds=["lateral"])
    assert {row[0] for row in table(outcome, "Steps").rows} <= {"lateral"}


# -- get_market_intelligence -----------------------------------------------------------------

def test_market_national_and_state(host: Host) -> None:
    outcome = call(host, "get_market_intelligence", title="Data Scientist", state="california")
    wages = table(outcome, "Employment and annual wages").records()
    assert [w["area"] for w in wages] == ["National", "California"]
    assert all(w["median"].startswith("$") for w in wages)
    charts = of_kind(outcome, "chart")
    assert len(charts) == 2 and all("mark" in c.spec for c in charts)
    assert table(outcome, "Top states").rows[0][1] == "California"
    assert metric(outcome, "Outlook") in {"Strong", "Good", "Modest", "Declining"}
    notes = text(outcome)
    assert "not live job postings" in notes and "not* O*NET's official Bright Outlook" in notes


@pytest.mark.parametrize(("growth", "openings", "label"), [
    (7.0, 5.0, "Strong"), (1.0, 150.0, "Strong"), (4.0, 5.0, "Good"), (1.0, 5.0, "Modest"),
    (-2.0, 5.0, "Declining"), (-2.0, 150.0, "Declining (many openings)"),
])
def test_outlook_rule(growth: float, openings: float, label: str) -> None:
    projection = next(iter(get_data().projections.values()))._replace(
        change_percent=growth, openings_annual_thousands=openings)
    assert outlook(projection, average=3.1) == label


def test_market_location_quotient_and_top_coded_wages(host: Host) -> None:
    outcome = call(host, "get_market_intelligence", title="Oral surgeon", state="AL",
                   rank_states_by="location_quotient")
    alabama = table(outcome, "Employment and annual wages").records()[1]
    assert alabama["area"] == "Alabama" and alabama["median"] == "≥ $239,200"
    assert "top-codes" in text(outcome)
    quotients = [row[5] for row in table(outcome, "Top states by location").rows]
    assert quotients == sorted(quotients, reverse=True)


def test_market_falls_back_to_a_broader_soc(host: Host) -> None:
    outcome = call(host, "get_market_intelligence", title="11-1031.00")
    assert "broader group 11-1000" in text(outcome)


# -- get_title_relationships -----------------------------------------------------------------

def test_relationships(host: Host) -> None:
    outcome = call(host, "get_title_relationships", title="Data Scientist", max_titles=100)
    synonyms = {row[0] for row in table(outcome, "Synonyms").rows}
    assert {"Machine Learning Engineer", "Data Analyst"} <= synonyms
    shared = {row[0] for row in table(outcome, "Titles shared").rows}
    assert "Data Analyst" in shared
    related = table(outcome, "Related occupations").records()
    assert related[0]["tier"] == "Primary-Short" and related[0]["common titles"]
    graph = of_kind(outcome, "graph")[0]
    assert {"synonym", "Primary-Short"} <= {n.group for n in graph.nodes}


# -- generate_word_cloud ---------------------------------------------------------------------

def png_size(outcome: CallOutcome) -> tuple[int, int]:
    image = of_kind(outcome, "image")[0]
    assert image.png.startswith(b"\x89PNG\r\n\x1a\n")
    with PILImage.open(io.BytesIO(image.png)) as picture:
        picture.verify()
        return picture.size


def test_word_cloud_png_and_merged_variants(host: Host) -> None:
    titles = ["Sr. Data Scientist", "Senior Data Scientist", "Data Scientist", "RN",
              "Registered Nurse", "registered nurse"]
    outcome = call(host, "generate_word_cloud", job_titles=titles, width=640, height=320)
    assert png_size(outcome) == (640, 320)
    counts = {row[0]: row[1] for row in table(outcome, "Frequencies").rows}
    assert counts == {"Senior Data Scientist": 2, "Data Scientist": 1, "Registered Nurse": 3}
    dropped = call(host, "generate_word_cloud", job_titles=titles, drop_seniority=True)
    assert {r[0]: r[1] for r in table(dropped, "Frequencies").rows}["Data Scientist"] == 3


def test_word_cloud_drop_seniority_keeps_the_job_word(host: Host) -> None:
    titles = ["Sales Associate", "Senior Sales Associate", "Software Engineer II",
              "Lead Software Engineer", "Software Engineer"]
    outcome = call(host, "generate_word_cloud", job_titles=titles, drop_seniority=True)
    counts = {row[0]: row[1] for row in table(outcome, "Frequencies").rows}
    assert counts == {"Software Engineer": 3, "Sales Associate": 2}


def test_word_cloud_by_occupation(host: Host) -> None:
    outcome = call(host, "generate_word_cloud", count_by="occupation",
                   job_titles=["RN", "Registered Nurse", "Sr. Registered Nurse",
                               "Data Scientist"])
    counts = {row[0]: row[1] for row in table(outcome, "Frequencies by occupation").rows}
    assert counts["Registered Nurses"] == 3 and counts["Data Scientists"] == 1


def test_word_cloud_thousands_of_duplicates_and_blanks(host: Host) -> None:
    titles = ["Truck Driver"] * 5000 + ["truck  driver"] * 10 + ["", "   "]
    outcome = call(host, "generate_word_cloud", job_titles=titles)
    assert png_size(outcome) == (800, 400)
    assert metric(outcome, "Skipped (blank)") == 2
    (row,) = table(outcome, "Frequencies").rows
    assert row[:2] == ["Truck Driver", 5010] and row[3] == "Truck Driver, truck driver"


def test_word_cloud_leaves_undrawable_scripts_out_of_the_picture(host: Host) -> None:
    outcome = call(host, "generate_word_cloud", job_titles=["数据科学家", "🚀", "Nurse"])
    assert png_size(outcome) == (800, 400)
    assert {row[0] for row in table(outcome, "Frequencies").rows} == {"数据科学家", "🚀", "Nurse"}
    assert "cannot draw" in text(outcome)


# -- bad input: a clear message naming the field, and no charge ------------------------------

TITLE_FUNCTIONS = ["analyze_job_title", "get_career_pathways", "get_market_intelligence",
                   "get_title_relationships"]
BAD_TITLES = {
    "empty": ("", "empty"),
    "whitespace": (" \t\n ", "empty"),
    "10,000 characters": ("Data Scientist " * 667, "at most 200"),
    "Chinese": ("数据科学家", "Latin letter"),
    "emoji": ("🚀👩‍💻", "Latin letter"),
    "digits": ("12345", "Latin letter"),
}


def refused(host: Host, function: str, payload: dict[str, Any]) -> InvalidInputError:
    before = host.balance(USER)
    with pytest.raises(InvalidInputError) as caught:
        host.call(function, USER, payload)
    assert host.balance(USER) == before
    return caught.value


@pytest.mark.parametrize("function", TITLE_FUNCTIONS)
@pytest.mark.parametrize("case", BAD_TITLES)
def test_bad_titles_are_refused_without_charge(host: Host, function: str, case: str) -> None:
    value, message = BAD_TITLES[case]
    error = refused(host, function, {"title": value})
    assert [field for field, _ in error.problems] == ["title"]
    assert message in error.problems[0][1]


@pytest.mark.parametrize("state", ["ZZ", "Narnia", "Ontario", "x" * 500])
def test_unknown_state_is_refused_naming_the_field(host: Host, state: str) -> None:
    error = refused(host, "get_market_intelligence", {"title": "Nurse", "state": state})
    (field, message), = error.problems
    assert field == "state" and "USPS code" in message and "'California'" in message


@pytest.mark.parametrize(("payload", "field"), [
    ({"job_titles": []}, "job_titles"),
    ({"job_titles": ["", "  "]}, "job_titles"),
    ({"job_titles": ["Nurse"] * 10_001}, "job_titles"),
    ({"job_titles": ["Nurse", "x" * 10_000]}, "job_titles.1"),
    ({"job_titles": ["Nurse"], "width": 50_000}, "width"),
    ({"job_titles": ["Nurse"], "colormap": "rainbow_unicorn"}, "colormap"),
    ({"job_titles": ["Nurse"], "count_by": "salary"}, "count_by"),
])
def test_bad_word_cloud_input_is_refused(host: Host, payload: dict[str, Any],
                                         field: str) -> None:
    error = refused(host, "generate_word_cloud", payload)
    assert field in [f for f, _ in error.problems]


@pytest.mark.parametrize("function", ["analyze_job_title", "get_career_pathways",
                                      "get_market_intelligence", "get_title_relationships"])
def test_no_confident_match_is_a_charged_answer_with_tips(host: Host, function: str) -> None:
    # `call` checks that the call succeeded and was charged the function's cost.
    outcome = call(host, function, title="qwxz plorbt vvvk")
    assert [b.kind for b in outcome.blocks] == ["markdown"]
    assert "No confident match" in text(outcome) and "O*NET code" in text(outcome)
    assert "charged like any other" in text(outcome)
    # ... and the function's description says so before anyone pays.
    description = next(v.spec.description for v in host.functions() if v.spec.name == function)
    assert "No confident match" in description and "charged" in description


def test_unknown_code_says_so(host: Host) -> None:
    outcome = call(host, "get_market_intelligence", title="99-9999.00")
    assert "No O*NET occupation has the code 99-9999.00" in text(outcome)


def test_title_with_emoji_and_noise_still_resolves(host: Host) -> None:
    outcome = call(host, "analyze_job_title", title="🚀 Senior Data Scientist (Remote) 🚀")
    assert metric(outcome, "Occupation") == "15-2051.00"


def test_an_explicit_null_context_means_no_context(host: Host) -> None:
    # JSON clients send null for "not given"; it once crashed validation with a TypeError.
    outcome = host.call("get_career_pathways", USER, {"title": "Registered Nurse",
                                                      "context": None})
    assert outcome.ok
    too_long = refused(host, "analyze_job_title", {"title": "Nurse", "context": "x" * 5000})
    assert [field for field, _ in too_long.problems] == ["context"]


# -- user input is echoed as text, never as markup ---------------------------------------------

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
INJECTED_TITLES = ["![](http://127.0.0.1:9/beacon.png) Data Scientist",
                   "Registered Nurse <img src=http://127.0.0.1:9/beacon.png>",
                   "[Data Scientist](http://127.0.0.1:9/) **bold** `code`",
                   "qwxz ![x][r] plorbt"]


def markdown_fields(outcome: CallOutcome) -> list[str]:
    """Every text of a result the portal draws as markdown."""
    out: list[str] = []
    for block in outcome.blocks:
        out += [block.title] if block.title else []
        if block.kind == "markdown":
            out.append(block.text)
        elif block.kind == "metrics":
            out += [str(v) for i in block.items for v in (i.label, i.value, i.delta, i.help)
                    if v is not None]
        elif block.kind == "image":
            out.append(block.alt)
    return out


@pytest.mark.parametrize("title", INJECTED_TITLES)
@pytest.mark.parametrize("function", ["analyze_job_title", "get_career_pathways",
                                      "get_market_intelligence", "get_title_relationships"])
def test_a_title_is_echoed_as_text_never_as_markup(host: Host, function: str,
                                                   title: str) -> None:
    outcome = call(host, function, title=title)
    html = "\n".join(MARKDOWN.render(field) for field in markdown_fields(outcome))
    html = html.replace(blocks.WORD_JOINER, "")  # invisible; it stops autolinks
    assert "<img" not in html and "<code>code" not in html and "<strong>bold" not in html
    assert 'href="http://127.0.0.1' not in html
    # ... and the reader sees the title as typed (markdown-it writes < > & " as entities).
    assert title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html


def test_the_word_cloud_caption_shows_titles_as_typed(host: Host) -> None:
    # "![]()" has no word to clean, so it is counted (and captioned) as written.
    outcome = call(host, "generate_word_cloud", job_titles=["![]()", "![]()", "Nurse"])
    (image,) = of_kind(outcome, "image")
    html = MARKDOWN.render(image.alt)
    assert "<img" not in html and "![]() (2)" in html
