"""Real Chromium against the built site on loopback: phones and laptops alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broadsheet.build.full import build_site
from broadsheet.build.serve import folder_fetcher, make_server
from tests.conftest import CONTENT, NOW

pytestmark = pytest.mark.browser

PAGES = {
    "article": "/en/issues/412/fascist-deportations-provoke-resistance/",
    "photo-body": "/en/issues/412/rent-strike-enters-third-month/",
    "photo-webp": "/en/issues/411/a-library-run-by-its-readers/",
    "article-es": "/es/issues/412/huelga-de-alquileres-cumple-tres-meses/",
    "table": "/en/issues/412/dockworkers-vote-to-strike/",
    "issue": "/en/issues/412/",
    "home-es": "/es/",
    "section": "/en/sections/labour/",
    "tag-es": "/es/tags/huelga/",
    "author": "/en/authors/pieter-lanting/",
    "corrections": "/en/corrections/",
    "tags-index": "/en/tags/",
    "sections-index-es": "/es/sections/",
    "search": "/en/search/?q=strike",
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("browser-site")
    build_site(CONTENT, out, now=NOW, workers=1)
    server = make_server(folder_fetcher(out), "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_renders_without_errors_or_overflow(
    browser: Any, base_url: str, artifacts: Path, name: str, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in {"error", "warning"} else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    response = page.goto(base_url + PAGES[name], wait_until="load")
    assert response is not None and response.status == 200
    # CSP is sent by the server: inline styles or scripts would show up as console errors.
    assert "script-src 'self'" in response.headers["content-security-policy"]
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    page.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)
    assert problems == []
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
    assert page.locator("h1").count() == 1
    page.close()


def test_the_skip_link_is_the_first_stop_for_a_keyboard(browser: Any, base_url: str) -> None:
    page = browser.new_page()
    page.goto(base_url + PAGES["article"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    page.close()


def test_a_reader_follows_links_from_home_to_article_to_translation(
    browser: Any, base_url: str
) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 800})
    page.goto(base_url + "/")
    page.get_by_role("link", name="Fascist deportations provoke resistance").first.click()
    assert page.url.endswith(PAGES["article"])
    page.locator(".translations a").click()
    assert page.url.endswith("/es/issues/412/deportaciones-fascistas-provocan-resistencia/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert "25 de julio" in page.locator(".dateline").inner_text()
    page.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_photographs_load_fit_and_hold_their_place(
    browser: Any, base_url: str, artifacts: Path, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(base_url + PAGES["table"], wait_until="load")
    # The lead photograph: loaded, as wide as the column at most, in WebP.
    lead = page.locator("figure.photo img").first
    assert lead.evaluate("img => img.complete && img.naturalWidth > 0")
    assert lead.evaluate("img => img.currentSrc").endswith(".webp")
    box = lead.bounding_box()
    assert box is not None and box["width"] <= width
    # Its height was reserved before it loaded: its box has the photograph's proportions.
    ratio = lead.evaluate("img => img.getBoundingClientRect().height / img.naturalHeight")
    assert abs(box["height"] - lead.evaluate("img => img.naturalHeight") * ratio) < 1
    shift = page.evaluate(
        """() => new Promise(done => {
            let total = 0;
            new PerformanceObserver(list => {
                for (const entry of list.getEntries()) total += entry.value;
            }).observe({type: 'layout-shift', buffered: true});
            setTimeout(() => done(total), 300);
        })"""
    )
    page.screenshot(path=str(artifacts / f"photo-{width}.png"), full_page=True)
    assert shift < 0.01, f"the layout shifted by {shift} while loading"
    page.close()


def test_a_reader_follows_a_tag_and_an_author_across_issues(browser: Any, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 800})
    page.goto(base_url + PAGES["article-es"])
    page.locator(".tags").get_by_role("link", name="huelga").click()
    assert page.url.endswith("/es/tags/huelga/")
    # The tag's page holds articles from more than one issue, newest first.
    links = page.locator("article.story h2 a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [
        "/es/issues/412/huelga-de-alquileres-cumple-tres-meses/",
        "/es/issues/411/docentes-ganan-cursos-mas-chicos/",
    ]
    page.goto(base_url + PAGES["table"])
    page.locator(".byline").get_by_role("link", name="Pieter Lanting").click()
    assert page.url.endswith(PAGES["author"])
    assert "lasher for eleven years" in page.locator(".bio").inner_text()
    page.goto(base_url + PAGES["table"])
    assert "Correction, July 25, 2025" in page.locator(".corrections").inner_text()
    page.close()


def _search(browser: Any, base_url: str, language: str, query: str, **filters: str) -> Any:
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.fetched = []  # type: ignore[attr-defined]
    page.on("request", lambda r: page.fetched.append(r.url))  # type: ignore[attr-defined]
    page.goto(f"{base_url}/{language}/search/", wait_until="load")
    page.wait_for_selector("form.search:not([hidden])")
    if filters:  # the menus are filled when opened
        page.click("details.filters summary")
    for name, value in filters.items():
        page.wait_for_selector(f"#{name} option[value='{value}']", state="attached")
        page.select_option(f"#{name}", value)
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.locator(".status:not(:empty)").wait_for()
    assert problems == []
    return page


def test_a_reader_searches_a_word_and_opens_the_article(browser: Any, base_url: str) -> None:
    # GIVEN the English search page WHEN a reader searches a word of a demo article
    page = _search(browser, base_url, "en", "automation")
    # THEN it is found, the word marked in its excerpt, and the link opens it
    first = page.locator(".results li").first
    assert first.locator("mark").first.inner_text().lower() == "automation"
    # and the filters' files were not fetched: nobody opened the menus
    assert not [url for url in page.fetched if "/filter/" in url]
    first.locator("a").click()
    page.wait_for_load_state()
    assert page.url == base_url + "/en/issues/412/dockworkers-vote-to-strike/"
    page.close()


def test_a_phrase_with_common_words_finds_its_article(browser: Any, base_url: str) -> None:
    # GIVEN words the index leaves out ("the", "to", "its"), which a reader types anyway
    page = _search(browser, base_url, "en", '"the port authority refused to put its automation"')
    # THEN the article is found, the phrase's other words marked in its excerpt (which
    # reads without the words the index leaves out)
    first = page.locator(".results li").first
    assert (
        first.locator("h2 a").get_attribute("href") == "/en/issues/412/dockworkers-vote-to-strike/"
    )
    assert "port authority refused put automation" in first.locator(".excerpt").inner_text()
    marked = first.locator("mark").evaluate_all("(ms) => ms.map((m) => m.textContent)")
    assert {"port", "authority", "refused", "automation"} <= {m.lower() for m in marked}
    page.close()
    # WHEN the query is only such words THEN the page says why it finds nothing, and
    # fetches nothing for it
    page = _search(browser, base_url, "en", "the of and")
    assert page.inner_text(".status").startswith("Those words are too common to search for")
    assert not [url for url in page.fetched if url.endswith(".pf_index")]
    page.close()


def test_a_spanish_word_finds_spanish_articles_only(browser: Any, base_url: str) -> None:
    page = _search(browser, base_url, "es", "inquilinos")
    links = page.locator(".results li h2 a").evaluate_all("(as) => as.map((a) => a.href)")
    assert links and all("/es/issues/" in link for link in links)
    assert page.locator(".results mark").first.inner_text().startswith("inquilin")  # stemmed
    page.close()
    # Pagefind falls back to shorter prefixes of a word it does not know, so the English
    # page may offer near misses, but never a Spanish article; an exact search, nothing.
    page = _search(browser, base_url, "en", "inquilinos")
    links = page.locator(".results li h2 a").evaluate_all("(as) => as.map((a) => a.href)")
    assert all("/en/issues/" in link for link in links)
    page.close()
    page = _search(browser, base_url, "en", '"inquilinos"')
    assert page.inner_text(".status") == "Nothing found."
    page.close()


def test_a_drafts_words_find_nothing(browser: Any, base_url: str) -> None:
    # "palimpsest" is written only in the demo's draft.
    page = _search(browser, base_url, "en", "palimpsest")
    assert page.inner_text(".status") == "Nothing found."
    page.close()


def test_search_filters_by_section_and_issue(browser: Any, base_url: str) -> None:
    page = _search(browser, base_url, "en", "strike", issue="411")
    links = page.locator(".results li h2 a").evaluate_all("(as) => as.map((a) => a.href)")
    assert links and all("/en/issues/411/" in link for link in links)
    assert "issue=411" in page.url
    # WHEN the address is opened again THEN the menus are open with the issue chosen
    page.goto(page.url, wait_until="load")
    page.wait_for_selector("form.search:not([hidden])")
    from playwright.sync_api import expect  # its checks run under the page's CSP too

    expect(page.locator("#issue")).to_have_value("411")
    assert page.locator("details.filters").get_attribute("open") is not None
    page.close()


def test_without_javascript_the_search_page_says_so(browser: Any, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/es/search/")
    assert "La búsqueda necesita JavaScript" in page.inner_text("main")
    assert page.locator("main a[href='/es/archive/']").count() == 1
    context.close()
