"""`broadsheet run` as an editor meets it: the real pipeline on loopback, in Chromium."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broadsheet.edition.viewer import SECURITY_HEADERS
from broadsheet.local.devstack import port_free
from tests.support.gitrepo import Repo

pytestmark = pytest.mark.browser


class Running:
    def __init__(
        self, repo: Repo, port: int, log: Path, extra: dict[str, str] | None = None
    ) -> None:
        self.repo, self.port, self.log = repo, port, log
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | (extra or {})
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "broadsheet.cli",
                "run",
                "--content",
                str(repo.content),
                "--port",
                str(port),
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the output:\n{self.output()}")
            time.sleep(0.2)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return str(response.read().decode())


def quiet_port() -> int:
    """A port free with the one after it, below the range the kernel hands to outgoing
    connections: an ephemeral port (what binding port 0 gives) can be taken between two
    runs by any client's socket, so moto's usual port would move for a reason unrelated
    to what the test checks (CI saw it once)."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    lowest = int(ranges.read_text().split()[0]) if ranges.exists() else 32768
    for port in random.sample(range(20000, lowest - 1), 500):
        if port_free(port) and port_free(port + 1):
            return port
    raise AssertionError(f"no two free ports side by side below {lowest}")


def serving(running: Running) -> Iterator[Running]:
    """A started stack once it serves; stopped after."""
    try:
        running.wait_for("Serving the site at")
        yield running
    finally:
        running.process.terminate()
        running.process.wait(timeout=20)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Running]:
    yield from serving(Running(Repo(tmp_path / "repo"), quiet_port(), tmp_path / "run.log"))


def test_a_reader_browses_and_an_editor_publishes_a_change(
    stack: Running, browser: Any, artifacts: Path
) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 800})
    response = page.goto(stack.url + "/")
    assert response is not None and response.status == 200
    headers = response.headers
    for name in ("Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options"):
        assert headers[name.lower()] == SECURITY_HEADERS[name]
    page.get_by_role("link", name="Fascist deportations provoke resistance").first.click()
    assert page.url.endswith("/en/issues/412/fascist-deportations-provoke-resistance/")
    assert (
        page.locator(".translations a").get_attribute("href")
        == "/es/issues/412/deportaciones-fascistas-provocan-resistencia/"
    )
    page.locator(".issue-line a").first.click()
    assert page.url.endswith("/en/issues/412/")
    page.screenshot(path=str(artifacts / "local-stack-issue.png"), full_page=True)

    path = stack.repo.content / "issues/412/dockworkers-vote-to-strike.md"
    path.write_text(
        path.read_text().replace(
            "Dockworkers vote to strike over automation plan",
            "Dockworkers vote to strike against automation",
        )
    )
    commit = stack.repo.commit("Sharper headline")
    stack.wait_for(f"{commit[:12]}: ", timeout=30)
    page.reload()
    assert "Dockworkers vote to strike against automation" in page.content()
    assert "invalidated /en/issues/412/*" in stack.output()
    page.close()


def test_a_new_article_is_found_by_search_once_its_commit_is_published(
    stack: Running, browser: Any
) -> None:
    # GIVEN a new article with a word no other article holds
    stack.repo.write(
        "issues/412/galley-rowers.md",
        "---\ntitle: The rowers of the galley\nlanguage: en\ndate: 2025-07-25\n"
        "dateline: Genoa (Italy)\nsection: labour\n---\n\n"
        "The crew of the quinquereme voted to stop rowing.\n",
    )
    commit = stack.repo.commit("a new article")
    stack.wait_for(f"{commit[:12]}: ", timeout=60)
    # WHEN a reader searches the word through the local CDN (its headers, its CSP)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(stack.url + "/en/search/?q=quinquereme")
    page.locator(".status:not(:empty)").wait_for()
    # THEN the new article is the one result, and it opens
    assert page.inner_text(".status") == "1 result"
    page.locator(".results a").click()
    page.wait_for_load_state()
    assert page.url == stack.url + "/en/issues/412/galley-rowers/"
    assert errors == []
    page.close()


def test_an_invalid_commit_is_reported_and_the_live_page_stays(stack: Running) -> None:
    before = stack.get("/en/issues/412/dockworkers-vote-to-strike/")
    path = stack.repo.content / "issues/412/dockworkers-vote-to-strike.md"
    path.write_text(path.read_text().replace("date: 2025-07-24", "date: 2025-13-40"))
    commit = stack.repo.commit("A broken date")
    stack.wait_for(f"{commit[:12]}: ", timeout=30)
    stack.wait_for(
        "issues/412/dockworkers-vote-to-strike.md:4:7: date: '2025-13-40' is not "
        "a valid date (YYYY-MM-DD)"
    )
    assert stack.get("/en/issues/412/dockworkers-vote-to-strike/") == before
    status = stack.get("/_broadsheet/")
    assert commit[:12] in status and "2025-13-40" in status


def test_a_deleted_article_is_announced_as_withdrawn_in_the_terminal_and_status(
    stack: Running,
) -> None:
    # GIVEN a published article WHEN its file is deleted
    stack.repo.git("rm", "-q", "content/issues/412/dockworkers-vote-to-strike.md")
    commit = stack.repo.commit("An article taken down")
    stack.wait_for(f"{commit[:12]}: ", timeout=30)
    # THEN the terminal and /_broadsheet/ name the page readers lose, with no finding
    stack.wait_for("1 page(s) withdrawn: readers who open them now get 404")
    stack.wait_for("withdrawn /en/issues/412/dockworkers-vote-to-strike/")
    status = stack.get("/_broadsheet/")
    assert "withdrawn   /en/issues/412/dockworkers-vote-to-strike/" in status
    # AND nothing of moto's own reaches the editor (in a container it asked Docker)
    assert "Docker" not in stack.output() and "JSONDecodeError" not in stack.output()
    with pytest.raises(urllib.error.HTTPError) as gone:
        stack.get("/en/issues/412/dockworkers-vote-to-strike/")
    assert gone.value.code == 404


def test_a_page_lost_from_the_bucket_is_mended_by_repair_while_it_runs(
    stack: Running,
) -> None:
    import re

    import boto3

    # GIVEN a page of the running site deleted from the site bucket behind its back
    [endpoint] = re.findall(r"into moto at (http://127\.0\.0\.1:\d+)", stack.output())
    page = "/en/issues/410/why-we-print/"
    served = stack.get(page)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="broadsheet",
        aws_secret_access_key="broadsheet",
    )
    [bucket] = [b["Name"] for b in s3.list_buckets()["Buckets"] if "site" in b["Name"].lower()]
    s3.delete_object(Bucket=bucket, Key=page.lstrip("/") + "index.html")
    with pytest.raises(urllib.error.HTTPError):
        stack.get(page)
    # WHEN the maintainer runs repair against the local stack, as the terminal says
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [sys.executable, "-m", "broadsheet.cli", "repair", "--endpoint-url", endpoint]
    found = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert found.returncode == 1 and "1 missing" in found.stdout, found.stdout + found.stderr
    # THEN the running stack handles what repair sent, with no commit, and serves it again
    stack.wait_for("message(s) a command sent", timeout=60)
    assert stack.get(page) == served
    # AND a rebuild run against it is reported in its terminal as a commit is
    rebuild = [sys.executable, "-m", "broadsheet.cli", "rebuild", "--endpoint-url", endpoint]
    sent = subprocess.run(rebuild, capture_output=True, text=True, env=env, timeout=120)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    [rebuild_id] = re.findall(r"broadsheet status (rebuild-\S+)", sent.stderr)
    stack.wait_for(f"{rebuild_id}: ", timeout=60)
    assert re.search(rf"{rebuild_id}: \d+ page\(s\) changed", stack.output())
    again = subprocess.run(
        [*command, "--dry-run"], capture_output=True, text=True, env=env, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr


def test_an_embargo_is_released_by_the_local_clock(stack: Running) -> None:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)
    stack.repo.write(
        "issues/412/midnight-release.md",
        "---\ntitle: Released at last\nlanguage: en\ndate: 2025-07-25\n"
        f"dateline: Genoa (Italy)\npublish_at: {at.isoformat()}\n---\n\nNow it can be told.\n",
    )
    commit = stack.repo.commit("an embargo")
    stack.wait_for(f"{commit[:12]}: ", timeout=30)
    with pytest.raises(urllib.error.HTTPError):
        stack.get("/en/issues/412/midnight-release/")
    assert "midnight-release" in stack.get("/_broadsheet/")  # a release waiting
    stack.wait_for("issue 412 midnight-release: embargo lifts", timeout=40)
    # The terminal says what the release changed, as it does for a commit.
    stack.wait_for("release-412-midnight-release-", timeout=10)
    assert "  changed /en/issues/412/midnight-release/index.html" in stack.output()
    # (A schedule truncated to the second fired early and was set again; it is rounded
    # up now. Should the page still lag, the test says what the stack said.)
    deadline = time.monotonic() + 10
    while True:
        try:
            page = stack.get("/en/issues/412/midnight-release/")
            break
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise AssertionError(f"not released:\n{stack.output()[-4000:]}") from None
            time.sleep(0.5)
    assert "Released at last" in page
    assert "Released at last" in stack.get("/en/")


def test_an_amended_commit_is_followed_and_a_restart_takes_the_same_port(
    stack: Running, tmp_path: Path
) -> None:
    # GIVEN a published commit
    stack.repo.write("issues/412/first-draft.md", ARTICLE.format(title="First thoughts"))
    first = stack.repo.commit("first thoughts")
    stack.wait_for(f"{first[:12]}: ", timeout=30)
    assert "First thoughts" in stack.get("/en/issues/412/first-draft/")
    # WHEN the editor amends it, so the published commit leaves the branch's history
    stack.repo.write("issues/412/first-draft.md", ARTICLE.format(title="Second thoughts"))
    stack.repo.git("add", "-A")
    stack.repo.git("commit", "-q", "--amend", "-m", "second thoughts")
    amended = stack.repo.git("rev-parse", "HEAD").strip()
    # THEN the stack says so, publishes HEAD whole and keeps running
    stack.wait_for(f"{amended[:12]}: ", timeout=30)
    assert "history rewritten" in stack.output()
    assert "Second thoughts" in stack.get("/en/issues/412/first-draft/")
    # AND another branch checked out is said to be one, and published whole
    stack.repo.git("checkout", "-q", "-b", "other", "HEAD~1")
    stack.repo.write("issues/412/first-draft.md", ARTICLE.format(title="Other thoughts"))
    other = stack.repo.commit("other thoughts")
    stack.wait_for(f"{other[:12]}: ", timeout=30)
    assert "branch other checked out (was " in stack.output()
    assert "Other thoughts" in stack.get("/en/issues/412/first-draft/")
    # AND after Ctrl-C the same port serves again at once
    stack.process.terminate()
    stack.process.wait(timeout=20)
    again = Running(stack.repo, stack.port, tmp_path / "again.log")
    try:
        again.wait_for("Serving the site at")
        assert "Other thoughts" in again.get("/en/issues/412/first-draft/")
        # AND moto is where it was, so an --endpoint-url set before still reaches it
        endpoints = [
            re.findall(r"into moto at (http://127\.0\.0\.1:\d+)", run.output())
            for run in (stack, again)
        ]
        assert endpoints[0] == endpoints[1] == [f"http://127.0.0.1:{stack.port + 1}"]
    finally:
        again.process.terminate()
        again.process.wait(timeout=20)


ARTICLE = (
    "---\ntitle: {title}\nlanguage: en\ndate: 2025-07-25\ndateline: Genoa (Italy)\n"
    "---\n\nThe gates opened.\n"
)


def test_an_uncommitted_edit_changes_nothing(stack: Running) -> None:
    before = stack.get("/en/issues/412/")
    path = stack.repo.content / "issues/412/dockworkers-vote-to-strike.md"
    path.write_text(path.read_text().replace("Dockworkers", "Nobody"))
    time.sleep(3)
    assert stack.get("/en/issues/412/") == before


def test_a_taken_port_is_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "broadsheet.cli",
                "run",
                "--port",
                str(port),
                "--content",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def small_render(tmp_path: Path) -> Iterator[Running]:
    """The local stack with render given 200 MB, less than its MemorySize (1,024 MB,
    which the worst photograph fits: tests/unit/test_memory.py)."""
    memory = {"BROADSHEET_MEMORY_MB": "render=200"}
    yield from serving(Running(Repo(tmp_path / "repo"), quiet_port(), tmp_path / "run.log", memory))


def test_a_commit_whose_function_is_killed_is_reported_not_finished_and_the_page_stays(
    small_render: Running,
) -> None:
    """A photograph whose variants take render past its memory: the environment is
    killed on every delivery, as on Lambda, and the editor is told, not shown a clean
    publish."""
    from PIL import Image, ImageDraw

    stack = small_render

    # GIVEN a published article WHEN its photograph is replaced by a 39.7-megapixel PNG
    before = stack.get("/en/issues/412/dockworkers-vote-to-strike/")
    media = stack.repo.content / "issues/412/media"
    huge = Image.new("RGBA", (6300, 6300), (200, 100, 50, 255))
    draw = ImageDraw.Draw(huge)
    for x in range(0, 6300, 50):
        draw.line([(x, 0), (6300 - x, 6300)], fill=(x % 255, 50, 100, 200), width=7)
    huge.save(media / "dockworkers-huge.png")
    article = stack.repo.content / "issues/412/dockworkers-vote-to-strike.md"
    article.write_text(
        article.read_text().replace("media/dockworkers-at-dawn.jpg", "media/dockworkers-huge.png")
    )
    commit = stack.repo.commit("A photograph too large to render")
    # THEN the terminal says the commit did not finish, which function died, and why
    stack.wait_for(f"{commit[:12]}: ", timeout=120)
    stack.wait_for("not finished: 1 of its message(s) in the dead-letter queues")
    stack.wait_for("render failed: none recorded: the function died in it (out of memory")
    assert "RenderFunction" in stack.output() and "MB allowed" in stack.output()
    # AND readers keep the page as it was
    assert stack.get("/en/issues/412/dockworkers-vote-to-strike/") == before
