"""validate: a commit's manifest becomes one job per touched issue; each issue folder is
checked as ``broadsheet validate`` checks it, and what was read goes on to render."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from broadsheet.content.findings import Finding, FindingSink
from broadsheet.content.issue import LINK_FOUND, SUBMODULE_FOUND, misplaced
from broadsheet.content.site import Site, parse_site
from broadsheet.errors import Permanent, Retryable
from broadsheet.pipeline import desk
from broadsheet.pipeline.env import Env, blob, put_json, read_ahead, record
from broadsheet.pipeline.manifest import SITE_PATH, SUBMODULE, SYMLINK, Manifest, Tree
from broadsheet.pipeline.messages import CommitJob, IssueJob, report_key, tree_key
from broadsheet.pipeline.release import release
from broadsheet.pipeline.state import load_issue
from broadsheet.pipeline.verdicts import keep_examined, keep_verdicts

NO_ISSUE = 0  # the job of a commit that touches no issue folder but site.yml


def read_site(env: Env, site_blob: str | None) -> tuple[Site | None, bytes, list[Finding]]:
    sink = FindingSink(SITE_PATH)
    if site_blob is None:
        sink.add(
            1,
            1,
            None,
            "site.yml is missing: the publication's names, languages and sections live there",
        )
        return None, b"", sink.findings
    data = blob(env.sources, site_blob)
    return parse_site(data, sink), data, sink.findings


def read_tree(env: Env, digest: str | None) -> Tree | None:
    if digest is None:
        return None
    stored = env.sources.get(tree_key(digest))
    if stored is None:
        raise Retryable(f"tree {digest} is not in the bucket yet")
    return Tree.from_json(stored.body)


def committed(job: IssueJob) -> dt.datetime | None:
    """When the commit was made: what dates of changes are checked against."""
    try:
        return dt.datetime.fromisoformat(job.time)
    except ValueError:
        return None


def validate_commit(job: CommitJob, env: Env) -> dict[str, Any]:
    """Split a commit into its issues; site.yml is checked here, once."""
    stored = env.sources.get(job.key)
    if stored is None:
        raise Retryable(f"{job.key} is not readable yet")
    try:
        manifest = Manifest.from_json(stored.body)
    except (ValueError, KeyError, TypeError) as error:
        raise Permanent(f"{job.key} is not a Broadsheet manifest: {error}") from error
    if manifest.release and manifest.release != release():
        # Retried, not dropped: while a deploy moves the alias, the next receive may meet
        # functions of the manifest's release (or a rollback may bring them back); if none
        # does, the manifest reaches the dead-letter queue and its alarm, to be replayed.
        raise Retryable(
            f"{job.key} was written by Broadsheet release {manifest.release}; these functions "
            f"are release {release()}: publish with the release deployed"
        )
    findings = [Finding(p, 1, 1, None, SUBMODULE_FOUND) for p in manifest.submodules]
    if manifest.site_mode in (SYMLINK, SUBMODULE):
        site = None
        if manifest.site_mode == SYMLINK:
            findings.append(Finding(SITE_PATH, 1, 1, None, LINK_FOUND))
    else:
        site, _data, found = read_site(env, manifest.site_blob)
        findings.extend(found)
    stray = (misplaced(path) for path in manifest.ignored)
    for where, message in sorted({found for found in stray if found}):
        findings.append(Finding(where, 1, 1, None, message))
    site_changed = manifest.snapshot or any(
        SITE_PATH in (c.path, c.old_path) for c in manifest.changes
    )
    # A new site.yml changes every page; with no issue yet, it still changes the listings.
    parts = sorted(manifest.issues) or ([NO_ISSUE] if site_changed else [])
    put_json(
        env.sources,
        report_key(manifest.commit),
        {
            "commit": manifest.commit,
            "sequence": manifest.sequence,
            "issues": parts,
            "findings": [asdict(f) for f in sorted(findings)],
        },
    )
    for number in parts:
        touch = manifest.issues.get(number)
        issue_job = IssueJob(
            kind="commit",
            commit=manifest.commit,
            sequence=manifest.sequence,
            after=touch.after if touch else 0,
            time=manifest.time,
            issue=number,
            tree=touch.tree if touch else None,
            site_blob=manifest.site_blob or "",
            site_ok=site is not None,
            renames=manifest.renames_from(number),
        )
        # With site.yml broken the whole commit is held: index only records its turn.
        env.queue("validate" if site is not None else "index").send(issue_job.to_json())
    record(env, manifest.commit, "validate", None, issues=parts, findings=len(findings))
    return {"commit": manifest.commit, "issues": len(parts), "site_ok": site is not None}


def validate_issue(job: IssueJob, env: Env) -> dict[str, Any]:
    """Check one issue folder; the files read anew travel on, so nobody reads them again."""
    site, _data, _ = read_site(env, job.site_blob)
    if site is None:
        raise Permanent(f"site.yml {job.site_blob} of {job.commit} does not parse")
    version = desk.verdict_version(site)
    tree = read_tree(env, job.tree)
    state = load_issue(env.sources, job.issue)
    known = [*state.verdicts, *state.accepted.values()]
    read = read_ahead(env, desk.unread(tree, job.issue, version, known))
    verdicts = desk.check_folder(tree, job.issue, site, version, read, known, committed(job))
    known_keys = {(c.path, c.blob, c.version) for c in known}
    fresh = [v for v in verdicts if (v.path, v.blob, v.version) not in known_keys]
    findings: list[Finding] = []
    if tree is not None:
        findings = desk.issue_file(tree, job.issue, site, lambda b: blob(env.sources, b))[2]
    verdicts = desk.judged(verdicts, site)
    examined = desk.examine_media(
        tree,
        desk.wanted(verdicts, state.accepted.values()),
        lambda b: blob(env.sources, b),
        state.examined,
    )
    new_photos = [e for e in examined if e not in state.examined]
    decided = desk.decide(job.issue, verdicts, {}, desk.photos(examined))
    findings = sorted(findings + decided.findings)
    passed = sorted(a.path for a in decided.published)
    put_json(
        env.sources,
        report_key(job.commit, job.issue),
        {
            "commit": job.commit,
            "issue": job.issue,
            "passed": passed,
            "findings": [asdict(f) for f in findings],
        },
    )
    record(env, job.commit, "validate", job.issue, passed=len(passed), findings=len(findings))
    keys = keep_verdicts(env.sources, fresh, env.workers)
    photos = keep_examined(env.sources, new_photos, env.workers)
    env.queue("render").send(job.replace(fresh=keys, photos=photos).to_json())
    return {"commit": job.commit, "issue": job.issue, "passed": len(passed)}
