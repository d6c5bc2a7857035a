"""Which stage takes which message: ``handle`` is the one place a message meets its
stage; the Lambda handlers and the in-memory pipeline (``world``) both call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from broadsheet.errors import Permanent
from broadsheet.pipeline.env import Env
from broadsheet.pipeline.messages import (
    CommitJob,
    InvalidateJob,
    IssueJob,
    ReleaseJob,
    SearchJob,
    ShareJob,
    job_from_json,
)


def handle(stage: str, message: Mapping[str, Any], env: Env) -> dict[str, Any]:
    """Run the stage a message is for. NotYet, Retryable and Permanent pass through.

    Each stage's module is imported here, when its first message comes: a function pays
    at cold start only for its own stage (invalidate never loads a template engine).
    """
    job = job_from_json(message)
    if stage == "validate" and isinstance(job, CommitJob | IssueJob):
        from broadsheet.pipeline.validate import validate_commit, validate_issue

        if isinstance(job, CommitJob):
            return validate_commit(job, env)
        return validate_issue(job, env)
    if stage == "render" and isinstance(job, IssueJob):
        from broadsheet.pipeline.render import render_issue

        return render_issue(job, env)
    if stage == "index" and isinstance(job, IssueJob | ReleaseJob | ShareJob):
        from broadsheet.pipeline.index import index_issue, release, share

        if isinstance(job, IssueJob):
            return index_issue(job, env)
        if isinstance(job, ShareJob):
            return share([job], env)
        return release(job, env)
    if stage in BATCHED:
        return handle_batch(stage, [message], env)
    raise Permanent(f"the {stage} stage takes no {type(job).__name__}")


# The stages whose queue is FIFO, its messages grouped (``messages.issue_group``).
FIFO = ("index",)

# The stages whose work is one for any number of messages: their event sources gather
# a batch, and the batch runs once.
BATCHED = ("invalidate", "search")
# The messages of a FIFO stage that a batch runs once (the shared group's, in order).
GATHERED = {"index": "share"}


def handle_batch(stage: str, messages: Sequence[Mapping[str, Any]], env: Env) -> dict[str, Any]:
    """Run a batched stage once for all of ``messages``."""
    jobs = [job_from_json(m) for m in messages]
    if stage == "invalidate" and all(isinstance(j, InvalidateJob) for j in jobs):
        from broadsheet.pipeline.invalidate import invalidate

        return invalidate(env, [j for j in jobs if isinstance(j, InvalidateJob)])
    if stage == "index" and all(isinstance(j, ShareJob) for j in jobs):
        from broadsheet.pipeline.index import share

        return share([j for j in jobs if isinstance(j, ShareJob)], env)
    if stage == "search" and all(isinstance(j, SearchJob) for j in jobs):
        searches = [j for j in jobs if isinstance(j, SearchJob)]
        # A repair's job among them makes the rebuild look at each file.
        verify = any(j.verify for j in searches)
        # Issue 0 (a job that names none) has every block looked at.
        issues = None if any(j.issue == 0 for j in searches) else {j.issue for j in searches}
        waits = max(j.waits for j in searches)
        return search_archive(env, issues=issues, verify=verify, waits=waits)
    kinds = sorted({type(j).__name__ for j in jobs})
    raise Permanent(f"the {stage} stage takes no {', '.join(kinds)}")


def search_archive(
    env: Env,
    *,
    issues: Iterable[int] | None = None,
    verify: bool = False,
    waits: int = 0,
) -> dict[str, Any]:
    """The search stage: the blocks of ``issues`` (None: all) made to match the records
    (one rebuild serves any number of jobs, so the Lambda handler runs it once a batch)."""
    from broadsheet.adapters.pagefind import build_bundle, bundle_version
    from broadsheet.pipeline.search import rebuild

    version = bundle_version()
    return rebuild(env, build_bundle, issues=issues, version=version, verify=verify, waits=waits)


def again(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message sent back to wait: the same job, one wait more."""
    return {**message, "waits": int(message.get("waits", 0)) + 1}


def waiting_room(stage: str) -> str:
    """Where a job that must wait is sent back to, with a delay. Index's queue is FIFO:
    it takes no delay, and a job waiting at the head of its group would hold back the
    very commit it waits for; so an index job waits in render's queue, whose stage
    finds its work done (typeset bodies are kept by hash) and hands it on again."""
    return "render" if stage == "index" else stage
