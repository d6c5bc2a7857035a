"""What maintainers run against a stack: status, pending releases, dead-letter queues,
rebuild. Each works through the adapters of ``adapters.aws.AwsEnv`` (found by the
stack's CloudFormation outputs), so nobody copies bucket names around."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from broadsheet.adapters.aws import STAGES, AwsEnv
from broadsheet.adapters.store import ObjectStore
from broadsheet.content.findings import Finding, printable
from broadsheet.content.findings import format_github as format_findings_github
from broadsheet.pipeline.env import put_json, read_json
from broadsheet.pipeline.manifest import Head
from broadsheet.pipeline.messages import (
    DROPPED,
    HEAD_KEY,
    MANIFESTS,
    NOT_COMMITS,
    IssueJob,
    failure_key,
    invalidation_prefix,
    report_key,
    stage_prefix,
    status_key,
)
from broadsheet.pipeline.state import load_issue
from broadsheet.pipeline.validate import NO_ISSUE


def resolve_commit(sources: ObjectStore, prefix: str | None) -> str | None:
    """The commit a prefix names (the last published one without a prefix; a rebuild or
    a release by its whole id, as the terminal and ``/_broadsheet/`` print it)."""
    if not prefix:
        stored = sources.get(HEAD_KEY)
        return Head.from_json(stored.body).commit if stored else None
    if prefix.startswith(NOT_COMMITS):
        return prefix if any(sources.keys(f"status/{prefix}/")) else None
    matches = [
        k.removeprefix(MANIFESTS).removesuffix(".json")
        for k in sources.keys(f"{MANIFESTS}{prefix}")
    ]
    return matches[0] if len(matches) == 1 else None


def status(sources: ObjectStore, commit: str) -> dict[str, Any]:
    """Each stage's record of a commit (a rebuild, a release), issue by issue, and every
    finding. (Whether search holds the records is the whole site's state, not a
    commit's: ``searched``, added by the caller that shows it.)"""
    report = read_json(sources, report_key(commit)) or {}
    steps: tuple[str, ...] = ISSUE_STEPS
    if commit.startswith("release-"):  # no commit to validate: index, from the clock
        steps = RELEASE_STEPS
        keys = sources.keys(stage_prefix(commit, "index"))
        issues = sorted({int(k.rsplit("/", 1)[1].removesuffix(".json")) for k in keys})
    else:
        issues = report.get("issues", [])
    findings = list(report.get("findings", []))
    stages: dict[str, dict[str, Any]] = {stage: {} for stage in (*STAGES, "shared")}
    for number in issues:
        part = read_json(sources, report_key(commit, number)) or {}
        findings.extend(part.get("findings", []))
        for stage in steps:
            stages[stage][str(number)] = read_json(sources, status_key(commit, stage, number))
    made = [read_json(sources, key) for key in sources.keys(invalidation_prefix(commit))]
    stages["invalidate"] = {m["reference"]: m for m in made if m}
    # A rebuild or a release reads no manifest: nothing validates it as a whole.
    validated = commit.startswith(NOT_COMMITS)
    return {
        "commit": commit,
        "validated": validated or read_json(sources, status_key(commit, "validate")) is not None,
        "issues": issues,
        "steps": list(steps),
        "stages": stages,
        "findings": findings,
        "dropped": dropped(sources, commit),
    }


# What each issue of a commit goes through: its own partition in index, then the
# partitions every issue shares, in their group. A release starts at index.
ISSUE_STEPS = ("validate", "render", "index", "shared")
RELEASE_STEPS = ("index", "shared")


def changed(found: dict[str, Any]) -> list[str]:
    """Every path a commit's jobs wrote or deleted."""
    records = [*found["stages"]["index"].values(), *found["stages"]["shared"].values()]
    return sorted({path for record in records for path in (record or {}).get("paths", [])})


def cleared(found: dict[str, Any]) -> list[str]:
    """Every path the invalidations of a commit's changes cleared."""
    made = found["stages"]["invalidate"].values()
    return sorted({path for m in made for path in m.get("paths", [])})


def withdrawn(found: dict[str, Any]) -> list[str]:
    """The public pages a commit took away from readers (a rename's old address, which
    redirects, is not one)."""
    records = found["stages"]["index"].values()
    return sorted({page for record in records for page in (record or {}).get("withdrawn", [])})


def settled(found: dict[str, Any]) -> bool:
    """Every stage has done its part of the commit: each issue through index and the
    shared group, and what changed cleared from the CDN (nothing to clear counts)."""
    if not found["validated"]:
        return False
    if not all(found["stages"]["shared"].get(str(n)) for n in found["issues"]):
        return False
    return not changed(found) or bool(found["stages"]["invalidate"])


def format_github(found: dict[str, Any]) -> str:
    """For a CI check: each withdrawn page a warning, each finding an error on its
    file and line."""
    lines = [
        f"::warning title=Withdrawn from readers::{page} is no longer published "
        f"(commit {found['commit'][:12]})\n"
        for page in withdrawn(found)
    ]
    lines += [
        f"::error title=Dropped by the {d['stage']} stage::{d['error']} "
        f"(commit {found['commit'][:12]} will not be published as it is)\n"
        for d in found.get("dropped", [])
    ]
    findings = [Finding(**f) for f in found["findings"]]
    return "".join(lines) + format_findings_github(findings)


def format_status(found: dict[str, Any]) -> str:
    lines = [f"commit {found['commit']}"]
    if not found["validated"]:
        lines.append("  validate    pending")
    for number in found["issues"]:
        label = "site" if number == NO_ISSUE else f"issue {number}"
        steps = []
        for stage in found.get("steps", ISSUE_STEPS):
            record = found["stages"][stage].get(str(number))
            steps.append(f"{stage} {'done' if record else 'pending'}")
        index = found["stages"]["index"].get(str(number)) or {}
        extra = ""
        if index.get("held_back"):
            extra += f"; kept at their published version: {', '.join(index['held_back'])}"
        if index.get("refused"):
            extra += f"; not published: {', '.join(index['refused'])}"
        lines.append(f"  {label:<10}  {', '.join(steps)}{extra}")
    made = sorted(found["stages"]["invalidate"].values(), key=lambda m: str(m["at"]))
    indexed = all(found["stages"]["shared"].get(str(n)) for n in found["issues"])
    if made:
        lines.append(f"  invalidate  done {made[-1]['at'][:19]}Z")
        lines.extend(f"  invalidated {path}" for path in cleared(found))
    else:
        lines.append("  invalidate  nothing to clear" if indexed else "  invalidate  pending")
    if found.get("search"):
        languages = ", ".join(
            f"{language} {'indexed' if done else 'pending'}"
            for language, done in found["search"].items()
        )
        lines.append(f"  search      {languages}")
    lines.extend(f"  withdrawn   {page}" for page in withdrawn(found))
    lines.extend(
        f"  dropped     {d['stage']}: {d['error']} (it can never apply; see broadsheet dlq list)"
        for d in found.get("dropped", [])
    )
    lines.extend(f"  finding     {finding_line(finding)}" for finding in found["findings"])
    # A file's name is a contributor's to choose: no escape sequence reaches a terminal.
    return "\n".join(printable(line) for line in lines) + "\n"


def finding_line(finding: dict[str, Any]) -> str:
    """One finding of a report as compilers write theirs, on one line whatever its file
    is named."""
    return str(Finding(**finding))


def pending_releases(env: AwsEnv) -> list[dict[str, Any]]:
    """The articles whose clock still matters: when an embargo lifts, or when a new
    article leaves the news sitemap."""
    return [
        {
            "at": r.at.isoformat(),
            "issue": r.message.get("issue"),
            "slug": r.message.get("slug"),
            "what": WHAT.get(str(r.message.get("reason", "embargo")), "?"),
        }
        for r in env.scheduler.pending()
    ]


WHAT = {"embargo": "embargo lifts", "news": "leaves the news sitemap"}


# A message that failed with no reason kept: its function was killed before it could say
# (past its memory or its timeout), as Lambda kills one.
DIED = "none recorded: the function died in it (out of memory, or past its timeout)"


# The releases' dead-letter queue holds what EventBridge Scheduler could not send to the
# index queue: replayed, they go there.
RELEASE = "release"


def _dead_letter_queues(env: AwsEnv, stage: str | None) -> list[str]:
    names = [*STAGES, RELEASE] if stage is None else [stage]
    # A stack deployed before the releases had a dead-letter queue has no such output.
    return [n for n in names if env.settings.get(f"{n.upper()}_DEAD_LETTER_URL")]


def dropped(sources: ObjectStore, commit: str | None = None) -> list[dict[str, Any]]:
    """The messages the stages dropped as ones that can never apply (of a commit, or
    all), each with its stage and reason, oldest first."""
    prefix = f"{DROPPED}{commit}/" if commit else DROPPED
    found = [read_json(sources, key) for key in sources.keys(prefix)]
    return sorted((f for f in found if f), key=lambda f: str(f.get("at")))


def dead_letters(env: AwsEnv, stage: str | None = None) -> list[dict[str, Any]]:
    """The messages in the dead-letter queues, with the reason each failed last. They are
    only looked at: received with no visibility timeout, they stay where they are."""
    found = []
    for name in _dead_letter_queues(env, stage):
        for message in env.dead_letters(name).peek():
            failure = read_json(env.sources, failure_key(message["MessageId"])) or {}
            try:
                body = json.loads(message["Body"])
                commit = str(body.get("commit", "?"))
            except (ValueError, AttributeError):
                commit = "?"
            found.append(
                {
                    "stage": name,
                    "message_id": message["MessageId"],
                    "commit": commit,
                    "reason": failure.get("error", DIED),
                    "failed_at": failure.get("at"),
                }
            )
    return found


def replay(env: AwsEnv, stage: str | None = None, say: Callable[[str], object] = print) -> int:
    """Move dead-lettered messages back to the queue they came from; how many moved."""
    moved = 0
    for name in _dead_letter_queues(env, stage):
        target = env.queue("index" if name == RELEASE else name)
        for message_id in env.dead_letters(name).move_to(target):
            say(f"replayed {message_id} to {name}")
            moved += 1
    return moved


def rebuild_jobs(sources: ObjectStore, rebuild_id: str, time: str) -> list[IssueJob]:
    """One job per issue the pipeline knows: its folder as last applied, checked and
    typeset again by the code deployed now, every page rendered again."""
    states = [
        load_issue(sources, int(key.rsplit("/", 1)[1].removesuffix(".json")))
        for key in sources.keys("state/issues/")
    ]
    states = [s for s in states if s.site_blob]
    return [
        IssueJob(
            kind="rebuild",
            commit=f"rebuild-{rebuild_id}",
            sequence=state.sequence,
            after=0,
            time=time,
            issue=state.number,
            tree=state.tree,
            site_blob=state.site_blob or "",
            site_ok=True,
        )
        for state in states
    ]


def rebuild(env: AwsEnv) -> tuple[str, int]:
    """Fan a full re-render out over the validate queue, one job per issue; its id (for
    ``status``) and the jobs sent. Its report, written first, names the issues, so
    ``status`` and the local stack's terminal follow it as they follow a commit."""
    now = dt.datetime.now(dt.UTC)
    jobs = rebuild_jobs(env.sources, now.strftime("%Y%m%dT%H%M%S"), now.isoformat())
    if not jobs:
        return "", 0
    commit = jobs[0].commit
    report = {"commit": commit, "issues": sorted(j.issue for j in jobs), "findings": []}
    put_json(env.sources, report_key(commit), report)
    queue = env.queue("validate")
    for job in jobs:
        queue.send(job.to_json())
    return commit, len(jobs)
