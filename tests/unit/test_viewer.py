"""The preview server behaves like the CDN: pretty URLs, redirects, 404 page, headers."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from broadsheet.build.full import build_site
from broadsheet.build.serve import folder_fetcher, make_server
from broadsheet.cli import main
from broadsheet.edition import viewer
from tests.conftest import CONTENT, NOW, REPO

FIXTURES = json.loads((REPO / "tests" / "fixtures" / "viewer_requests.json").read_text())


@pytest.mark.parametrize("case", FIXTURES, ids=lambda case: case["uri"])
def test_routes_match_the_edge_function_fixtures(case: dict) -> None:
    uri = case["uri"] + (f"?{case['query']}" if case.get("query") else "")
    expected = viewer.Route(case.get("key"), case.get("redirect"), case.get("status"))
    assert viewer.route(uri, case.get("redirects")) == expected


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    out = tmp_path_factory.mktemp("served")
    build_site(CONTENT, out, now=NOW, workers=1)
    httpd = make_server(folder_fetcher(out), "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[0], httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def get(server: tuple[str, int], path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(*server, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response


def test_a_pretty_url_serves_the_page_with_the_cdn_headers(server) -> None:
    response = get(server, "/en/issues/412/")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    for name, value in viewer.SECURITY_HEADERS.items():
        assert response.getheader(name) == value


def test_a_page_not_published_yet_is_asked_for_again_once_it_is(server) -> None:
    # A reader who opens an embargoed address a minute before its release gets the 404
    # page, which their browser must not keep: it is sent no-cache (the edge keeps
    # errors for the distribution's ErrorCachingMinTTL, 0, which the template sets).
    response = get(server, "/en/issues/412/not-yet-released/")
    assert response.status == 404
    assert response.getheader("Cache-Control") == "no-cache"
    assert viewer.cache_control("404.html") == "no-cache"
    assert get(server, "/en/issues/412/").getheader("Cache-Control") == viewer.HTML_CACHE


def test_a_folder_without_slash_redirects(server) -> None:
    response = get(server, "/en/issues/412")
    assert (response.status, response.getheader("Location")) == (301, "/en/issues/412/")


def test_a_missing_page_gets_the_404_page_with_status_404(server) -> None:
    response = get(server, "/en/issues/999/nothing/")
    assert response.status == 404


def test_the_api_allows_cross_origin_reads(server) -> None:
    assert get(server, "/api/v1/issues.json").getheader("Access-Control-Allow-Origin") == "*"


def test_a_taken_port_is_a_clear_message_not_a_traceback(tmp_path: Path, capsys) -> None:
    (tmp_path / "index.html").write_text("x")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--out", str(tmp_path), "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_the_preview_server_follows_the_redirect_table(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("home")
    table = {"/en/issues/1/old/": "/en/issues/1/new/"}
    httpd = make_server(
        folder_fetcher(tmp_path), "127.0.0.1", 0, quiet=True, redirects=lambda: table
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        response = get(httpd.server_address, "/en/issues/1/old/")
        assert (response.status, response.getheader("Location")) == (301, "/en/issues/1/new/")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_serve_answers_a_renamed_article_as_the_site_does(tmp_path: Path) -> None:
    from broadsheet.cli import _preview_redirects
    from tests.support.gitrepo import Repo

    # GIVEN a published article renamed in git, and the site built from HEAD
    repo = Repo(tmp_path / "repo")
    old = "content/issues/412/dockworkers-vote-to-strike.md"
    repo.git("mv", old, "content/issues/412/dockers-vote-to-strike.md")
    repo.commit("a shorter slug")
    out = tmp_path / "site"
    build_site(repo.content, out, now=NOW, search_index=False)
    table, said = _preview_redirects(repo.content, out)
    assert "from the renames in git" in said
    httpd = make_server(folder_fetcher(out), "127.0.0.1", 0, quiet=True, redirects=lambda: table)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        # THEN the old address and its index.html redirect to the new page, which is there
        for path in (
            "/en/issues/412/dockworkers-vote-to-strike/",
            "/en/issues/412/dockworkers-vote-to-strike/index.html",
        ):
            response = get(httpd.server_address, path)
            assert (response.status, response.getheader("Location")) == (
                301,
                "/en/issues/412/dockers-vote-to-strike/",
            )
        assert get(httpd.server_address, "/en/issues/412/dockers-vote-to-strike/").status == 200
    finally:
        httpd.shutdown()
        httpd.server_close()
    # AND a folder outside git serves no redirects, and says why
    assert _preview_redirects(out, out)[0] == {}


@pytest.mark.parametrize(
    ("path", "status"),
    [("/foo%0d%0aSet-Cookie:%20x=1", 400), ("/a%00.html", 400), ("/%E2%80%A8x", 301)],
)
def test_hostile_paths_get_a_status_never_a_header_or_a_traceback(
    server, path: str, status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    connection = http.client.HTTPConnection(*server, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    assert response.status == status
    assert response.getheader("Set-Cookie") is None
    location = response.getheader("Location")
    assert location is None or location == "/%E2%80%A8x/"
    assert "Traceback" not in capfd.readouterr().err
