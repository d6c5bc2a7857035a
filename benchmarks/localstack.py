"""`make run` figures: from start to the first page served, and from a one-article commit
to the changed page served, with the real pipeline on loopback."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from broadsheet.local.devstack import free_port

ROOT = Path(__file__).resolve().parent.parent


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def _fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _until(check: Any, timeout: float = 90) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if check():
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit("bench: the local stack did not answer in time")


def one_run(work: Path) -> tuple[float, float]:
    repo = work / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(ROOT / "content", repo / "content")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=Bench", "-c", "user.email=b@example.org", "add", "-A")
    _git(repo, "-c", "user.name=Bench", "-c", "user.email=b@example.org", "commit", "-qm", "c")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broadsheet.cli",
            "run",
            "--content",
            str(repo / "content"),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first_page = _until(lambda: (_fetch(url + "/") or "").startswith("<!doctype html>"))
        article = repo / "content/issues/412/dockworkers-vote-to-strike.md"
        article.write_text(
            article.read_text().replace(
                "the cranes do not move without us", "nothing moves without us"
            )
        )
        _git(
            repo,
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=b@example.org",
            "commit",
            "-qam",
            "edit",
        )
        page = url + "/en/issues/412/dockworkers-vote-to-strike/"
        commit_to_page = _until(lambda: "nothing moves without us" in (_fetch(page) or ""))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return first_page, commit_to_page


def local_stack(work: Path, runs: int) -> dict[str, Any]:
    samples = [one_run(work) for _ in range(runs)]
    first, commit = [s[0] for s in samples], [s[1] for s in samples]
    return {
        "start_to_first_page_s": round(statistics.median(first), 2),
        "commit_to_page_s": round(statistics.median(commit), 2),
        "runs": [[round(a, 2), round(b, 2)] for a, b in samples],
    }
