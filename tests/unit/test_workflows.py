"""The supply chain: GitHub Actions workflows audited by zizmor, what holds the publish
role, and every lock file hashed and installed with --require-hashes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    result = subprocess.run(
        [str(zizmor), "--offline", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["ci.yml", "content.yml"])
def test_every_action_is_pinned_by_its_commit_and_no_expression_reaches_a_shell(
    name: str,
) -> None:
    for job in workflow(name)["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), step["uses"]
            # An expression in a run line is pasted into the script before it runs.
            assert "${{" not in step.get("run", ""), step


def test_only_the_publish_job_holds_the_role_and_it_runs_only_what_check_fetched() -> None:
    jobs = workflow("content.yml")["jobs"]
    check, publish = jobs["check"], jobs["publish"]
    assert "permissions" not in check  # the workflow's: contents read, no token
    assert workflow("content.yml")["permissions"] == {"contents": "read"}
    assert publish["permissions"] == {"contents": "read", "id-token": "write"}
    # The role trusts this environment alone (template: PublishEnvironment).
    assert publish["environment"] == "production"
    assert publish["needs"] == "check"
    runs = [s["run"] for s in publish["steps"] if "run" in s]
    installs = [line for run in runs for line in run.splitlines() if "pip install" in line]
    assert installs and all("--no-index" in line for line in installs), installs
    assert not any(word in run for run in runs for word in ("curl", "pip download", "git+"))
    # check fetches every file against its hash, and hands the wheels on
    fetched = "\n".join(s.get("run", "") for s in check["steps"])
    assert "pip download --require-hashes" in fetched
    assert "^[0-9a-f]{40}$" in fetched  # broadsheet itself, at a full commit
    uploaded = [s for s in check["steps"] if s.get("uses", "").startswith("actions/upload")]
    downloaded = [s for s in publish["steps"] if s.get("uses", "").startswith("actions/down")]
    assert uploaded[0]["with"]["name"] == downloaded[0]["with"]["name"]


LOCKS = sorted((REPO / "requirements").glob("*.lock"))


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_locked_package_is_pinned_with_its_hashes(lock: Path) -> None:
    text = lock.read_text().replace("\\\n", " ")
    requirements = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert requirements
    for requirement in requirements:
        assert re.match(r"^[\w.\[\],-]+==\S+ ", requirement), requirement
        assert "--hash=sha256:" in requirement, requirement


def test_every_lock_is_installed_with_require_hashes() -> None:
    makefile = (REPO / "Makefile").read_text().replace("\\\n", " ")
    installs = [
        line for line in makefile.splitlines() if re.search(r"-r requirements/\w+\.lock", line)
    ]
    named = {m for line in installs for m in re.findall(r"requirements/(\w+)\.lock", line)}
    # publish: the content workflow's; sam: by version only, for now (the Makefile says why)
    assert named == {p.stem for p in LOCKS} - {"publish", "sam"}
    assert all("--require-hashes" in line for line in installs), installs
    assert "--require-hashes -r publisher/publish.lock" in (WORKFLOWS / "content.yml").read_text()


def test_dependabot_proposes_the_actions_and_the_locks() -> None:
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in config["updates"]} == {"github-actions", "pip"}
