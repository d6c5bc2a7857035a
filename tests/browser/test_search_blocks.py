"""The search index in blocks against one whole index: what a reader finds, in Chromium.

The same records are indexed twice, as the site does (one bundle per block of issues,
merged by the search page) and as one bundle holding them all, each served with the
search page and its script. A fixed set of queries is run through the page on both, and
what a reader is shown is compared: how many results, which, their excerpts, and the
filters' counts. Ranking is compared too, and its one difference explained: Pagefind
weighs a word by how rare it is in the index it searches (its IDF), and each block is an
index of its own, so a word's weight is its block's, not the archive's. The results are
the same and in the same order when they come from one block; across blocks a result's
place may move, never out of the results. Measured here: a word in every article keeps 0
or 1 of the whole index's first ten (its weight is near nothing in both, so their
orders are noise), a word in half of them 6, two words in a fortieth of them 6 to 9.

Pagefind also leaves out of a query a word its index does not hold; each block being an
index, a block without one of the words would offer its pages with the others (2
results became 6, and a query the whole index finds nothing for found 17). The search
page keeps only the pages each word found alone, which this test holds it to.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broadsheet.adapters.pagefind import build_bundle
from broadsheet.build.serve import folder_fetcher, make_server
from broadsheet.content.findings import FindingSink
from broadsheet.content.site import parse_site
from broadsheet.edition import search
from broadsheet.edition.plan import site_files
from broadsheet.edition.search import SearchRecord
from tests.conftest import CONTENT

pytestmark = pytest.mark.browser

ISSUES = 320  # four blocks: 1-100, 101-200, 201-300 and 301-400, the last not full
WORDS = [f"w{n:04d}" for n in range(1500)]
SECTIONS = ["News", "Culture", "Opinion", ""]
WHOLE = 100  # a list up to this long is compared whole; a longer one, its first 30


def _records() -> list[SearchRecord]:
    """Two English articles an issue, their words Zipf-distributed as a paper's are."""
    rng = random.Random(26)

    def text(length: int) -> str:
        return " ".join(
            WORDS[min(int(rng.paretovariate(0.8)) - 1, len(WORDS) - 1)] for _ in range(length)
        )

    found = []
    for issue in range(1, ISSUES + 1):
        for n in range(2):
            found.append(
                SearchRecord(
                    path=f"/en/issues/{issue}/story-{n}/",
                    language="en",
                    title=f"Story {issue}.{n} {text(3)}",
                    dateline="MADRID (Spain), July 25—",
                    date="25 July 2025",
                    published=f"2025-{issue % 12 + 1:02d}-01T00:00:00Z",
                    section=SECTIONS[(issue + n) % len(SECTIONS)],
                    issue=issue,
                    summary=text(12),
                    text=text(rng.randint(80, 400)),
                )
            )
    return found


def _serve(folder: Path) -> tuple[str, Any]:
    server = make_server(folder_fetcher(folder), "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for key, data in files.items():
        target = folder / key.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    records = _records()
    site = parse_site((CONTENT / "site.yml").read_bytes(), FindingSink("site.yml"))
    assert site is not None
    page_files = site_files(site)
    served = {}
    servers = []
    # In blocks, as the build and the pipeline make it
    blocked = tmp_path_factory.mktemp("blocks")
    _write(blocked, page_files)
    grouped = search.by_block(records)
    assert [block for _, block in grouped] == ["1-100", "101-200", "201-300", "301-400"]
    for (language, block), found in grouped.items():
        bundle = build_bundle(language, found)
        _write(blocked, {search.bundle_key(language, block, n): d for n, d in bundle.items()})
    _write(blocked, {search.blocks_key("en"): search.blocks_document(b for _, b in grouped)})
    # Whole: one bundle of every record, the list naming it alone
    whole = tmp_path_factory.mktemp("whole")
    _write(whole, page_files)
    bundle = build_bundle("en", records)
    _write(whole, {search.bundle_key("en", "1-400", n): d for n, d in bundle.items()})
    _write(whole, {search.blocks_key("en"): search.blocks_document(["1-400"])})
    for name, folder in (("blocks", blocked), ("whole", whole)):
        served[name], server = _serve(folder)
        servers.append(server)
    yield served
    for server in servers:
        server.shutdown()
        server.server_close()


def _shown(browser: Any, base_url: str, query: str, **filters: str) -> dict[str, Any]:
    """What a reader is shown for a query: the status, every result (the page shows ten
    at a time: "more" is pressed until there are no more) and the filters' counts."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{base_url}/en/search/", wait_until="load")
    page.wait_for_selector("form.search:not([hidden])")
    page.click("details.filters summary")
    page.wait_for_selector("#section option[value='News']", state="attached")
    for name, value in filters.items():
        page.select_option(f"#{name}", value)
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.locator(".status:not(:empty)").wait_for()
    page.wait_for_load_state("networkidle")
    status = page.inner_text(".status")
    count = int(status.split()[0]) if status[0].isdigit() else 0
    for _ in range(max(0, count - 1) // 10 if count <= WHOLE else 2):
        before = page.locator(".results li").count()
        page.click("button.more")
        page.locator(".results li").nth(before).wait_for()
    results = page.locator(".results li").evaluate_all(
        """(items) => items.map((li) => ({
            url: li.querySelector("h2 a").getAttribute("href"),
            title: li.querySelector("h2 a").textContent,
            kicker: li.querySelector(".kicker").textContent,
            excerpt: li.querySelector(".excerpt").innerHTML,
        }))"""
    )
    options = page.locator("select option").evaluate_all(
        "(os) => os.map((o) => o.parentElement.name + ':' + o.value)"
    )
    shown = {"status": status, "count": count, "results": results, "options": options}
    page.close()
    assert problems == []
    return shown


def _queries() -> list[str]:
    """Words from rare to everywhere, alone and in pairs, and a phrase."""
    rng = random.Random(412)
    singles = [WORDS[i] for i in (0, 3, 20, 150, 900, 1499)]
    pairs = [f"{WORDS[rng.randrange(200)]} {WORDS[rng.randrange(200, 1500)]}" for _ in range(6)]
    return [*singles, *pairs, f'"{WORDS[0]} {WORDS[0]}"']


def _block(url: str) -> int:
    return (int(url.split("/")[3]) - 1) // search.ISSUES_PER_BLOCK


def test_the_blocks_find_what_one_whole_index_finds(browser: Any, sites: dict[str, str]) -> None:
    for query in _queries():
        blocks = _shown(browser, sites["blocks"], query)
        whole = _shown(browser, sites["whole"], query)
        # THEN as many results, each shown alike (title, dateline, excerpt and its marks),
        # and the same filters
        assert blocks["status"] == whole["status"], query
        assert blocks["options"] == whole["options"]
        by_url = {r["url"]: r for r in whole["results"]}
        for result in blocks["results"]:
            if result["url"] in by_url:
                assert result == by_url[result["url"]], query
        ours = [r["url"] for r in blocks["results"]]
        theirs = list(by_url)
        if whole["count"] <= WHOLE:  # the whole list was shown: the same results
            assert sorted(ours) == sorted(theirs), query
            if len({_block(url) for url in theirs}) <= 1:  # from one block: in one order
                assert ours == theirs, query


def test_a_filter_counts_alike_in_blocks_and_whole(browser: Any, sites: dict[str, str]) -> None:
    for filters in ({"section": "News"}, {"issue": "205"}):
        blocks = _shown(browser, sites["blocks"], WORDS[3], **filters)
        whole = _shown(browser, sites["whole"], WORDS[3], **filters)
        assert blocks["status"] == whole["status"] and blocks["status"] != "Nothing found."
        if whole["count"] <= WHOLE:
            ours = sorted(r["url"] for r in blocks["results"])
            assert ours == sorted(r["url"] for r in whole["results"])
        if "issue" in filters:
            assert all("/issues/205/" in r["url"] for r in blocks["results"])
