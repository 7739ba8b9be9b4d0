"""Job-title functions on O*NET and BLS data.

Five functions share one title resolver (resolver.py) over the Parquet files in data/
(DATA.md). Nothing is read at import or registration: the data and the resolver's index load
on the first call that needs them (functions/common.py), so starting the host, or running
an unrelated CLI command, never pays for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tokenworks import hookimpl

from .functions import analyze, cloud, market, pathways, relationships

if TYPE_CHECKING:
    import click

    from tokenworks.hookspecs import RegisterFunction

CATEGORY = "job titles"
ATTRIBUTION_HEADING = "## Attribution the product must show"


@hookimpl
def warm() -> None:
    """Load the data and the resolver's precomputed index now rather than on the first
    call.

    Long-running front ends (the portals) call it once at start-up; CLI commands never do,
    so those that need no titles stay fast. The index file is read (and scipy imported) on a
    second thread while the Parquet files load: on two cores the two loads overlap.
    """
    import threading

    from .functions.common import job_data, resolver
    from .index_file import forget_prefetched, prefetch_index

    reader = threading.Thread(target=prefetch_index, name="title-index", daemon=True)
    reader.start()
    try:
        job_data()
    finally:
        reader.join()
    resolver()
    forget_prefetched()  # unused when another thread built the resolver first


# The four single-title functions answer from static data shipped with the plugin, so an
# answer stays right until the plugin (and its data) changes version, which drops the
# cached results anyway; a day bounds what a surprise would cost. The word cloud is not
# cached: its input is a list of up to 10,000 titles, rarely sent twice alike, and its
# answer a PNG of tens of kilobytes, so entries would fill the store and seldom be hit.
CACHE_TTL = 24 * 3600


@hookimpl
def register_functions(register: RegisterFunction) -> None:
    register(
        cloud.generate_word_cloud, title="Job-title word cloud", category=CATEGORY,
        tags=("job titles", "word cloud", "image", "bulk"), cost=5, returns=cloud.RETURNS,
        examples=cloud.EXAMPLES, timeout=60,
    )
    register(
        analyze.analyze_job_title, title="Analyze a job title", category=CATEGORY,
        tags=("job titles", "O*NET", "normalization", "skills", "education"), cost=7,
        returns=analyze.RETURNS, examples=analyze.EXAMPLES, timeout=30, cache_ttl=CACHE_TTL,
    )
    register(
        pathways.get_career_pathways, title="Career pathways", category=CATEGORY,
        tags=("job titles", "O*NET", "careers", "graph"), cost=7, returns=pathways.RETURNS,
        examples=pathways.EXAMPLES, timeout=30, cache_ttl=CACHE_TTL,
    )
    register(
        market.get_market_intelligence, title="Market intelligence", category=CATEGORY,
        tags=("job titles", "BLS", "wages", "employment", "projections"), cost=7,
        returns=market.RETURNS, examples=market.EXAMPLES, timeout=30, cache_ttl=CACHE_TTL,
    )
    register(
        relationships.get_title_relationships, title="Title relationships",
        category=CATEGORY, tags=("job titles", "O*NET", "synonyms", "graph"), cost=5,
        returns=relationships.RETURNS, examples=relationships.EXAMPLES, timeout=30,
        cache_ttl=CACHE_TTL,
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    # Imported here so the host's start never loads the CLI module unless a command line does.
    from .cli import register_commands as register_title_commands

    register_title_commands(cli)


@hookimpl
def attribution() -> str | None:
    """The attribution section of DATA.md, as the data's licences require it be shown."""
    text = (Path(__file__).resolve().parent / "DATA.md").read_text(encoding="utf-8")
    start = text.find(ATTRIBUTION_HEADING)
    if start < 0:  # DATA.md reorganized: show all of it rather than nothing
        return text
    section = text[start + len(ATTRIBUTION_HEADING):]
    end = section.find("\n## ")
    body = section if end < 0 else section[:end]
    # Keep the credits (the bullet list), not DATA.md's note to developers above them.
    bullets = body[body.find("\n- ") + 1:] if "\n- " in body else body
    return "### Job-title data\n\n" + bullets.strip() + "\n"
