"""The four stages of publishing a commit, over an object store, a queue and a CDN.

validate  reads the manifest and the changed sources, checks them against the archive as
          the issue states describe it, writes one report, passes on the valid ones.
render    typesets each valid article, keeps its body, writes its page.
index     updates each touched issue's state (conditional writes, retried), then every
          output the plan says changed: listings, feeds, sitemaps, JSON, article pages.
invalidate sends the changed paths to the CDN, once per commit.

Every step can run twice or late. Article revisions record the commit sequence that last
set them, so an older commit never overwrites a newer one, and a repeated message finds
nothing left to change. The index stage runs one at a time (reserved concurrency 1), so
site-wide listings are always rendered from the latest state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from broadsheet.adapters.cdn import CDN
from broadsheet.adapters.redirects import ObjectRedirects, Redirects, follow
from broadsheet.adapters.store import ObjectStore, PreconditionFailed
from broadsheet.content.article import Article, parse_article
from broadsheet.content.findings import Finding, FindingSink
from broadsheet.content.issue import Issue, parse_issue
from broadsheet.content.site import Site, parse_site
from broadsheet.edition import index, urls, viewer
from broadsheet.pipeline.manifest import ARTICLE_PATH, SITE_PATH, Manifest, blob_key, issue_of

if TYPE_CHECKING:
    pass
from broadsheet.content.validation import Entry, check_archive

MAX_ATTEMPTS = 12
SEQUENCE = "sequence"  # object metadata: the commit sequence an output was written for


class Retry(Exception):
    """A transient condition: the message should be processed again later."""


@dataclass
class Buckets:
    sources: ObjectStore  # private: blobs, manifests, reports, issue states, bodies
    site: ObjectStore  # what the CDN serves


def state_key(number: int) -> str:
    return f"state/issues/{number}.json"


def report_key(commit: str) -> str:
    return f"reports/{commit}.json"


def status_key(commit: str, stage: str) -> str:
    return f"status/{commit}/{stage}.json"


def failure_key(message_id: str) -> str:
    return f"failures/{message_id}.json"


def body_key(blob: str) -> str:
    return f"bodies/{blob}.html"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _blob(store: ObjectStore, digest: str | None) -> bytes:
    stored = store.get(blob_key(digest)) if digest else None
    if stored is None:
        raise Retry(f"source blob {digest} is not in the bucket yet")
    return stored.body


def write_status(buckets: Buckets, commit: str, stage: str, **fields: Any) -> None:
    record = {"commit": commit, "stage": stage, "at": dt.datetime.now(dt.UTC).isoformat(), **fields}
    buckets.sources.put(status_key(commit, stage), _json(record), content_type="application/json")


# --- issue state -------------------------------------------------------------------------


@dataclass
class IssueState:
    """The private record of an issue: its public document plus what ordering needs."""

    number: int
    doc: index.Doc | None = None  # public document; None until the issue has metadata
    revisions: dict[str, int] = field(default_factory=dict)  # slug -> sequence last applied
    held: dict[str, index.Doc] = field(default_factory=dict)  # valid but not yet public
    issue_revision: int = -1
    issue_blob: str | None = None  # the issue.yml last applied, for a rebuild
    etag: str | None = None

    def entries(self) -> list[Entry]:
        """The archive facts validation checks against: public and held articles."""
        found = list((self.doc or {}).get("articles", [])) + list(self.held.values())
        return [
            Entry(
                self.number,
                e["slug"],
                e["language"],
                e["translation_of"],
                f"issues/{self.number}/{e['slug']}.md",
            )
            for e in found
        ]

    def to_json(self) -> bytes:
        return _json(
            {
                "number": self.number,
                "doc": self.doc,
                "revisions": self.revisions,
                "held": self.held,
                "issue_revision": self.issue_revision,
                "issue_blob": self.issue_blob,
            }
        )


def load_state(store: ObjectStore, number: int) -> IssueState:
    stored = store.get(state_key(number))
    if stored is None:
        return IssueState(number)
    data = json.loads(stored.body)
    return IssueState(
        number,
        data["doc"],
        data["revisions"],
        data["held"],
        data["issue_revision"],
        data.get("issue_blob"),
        stored.etag,
    )


def save_state(store: ObjectStore, state: IssueState) -> None:
    """Write only if nobody else wrote since it was read; PreconditionFailed otherwise."""
    store.put(
        state_key(state.number),
        state.to_json(),
        content_type="application/json",
        if_match=state.etag,
        if_none_match=state.etag is None,
    )


# --- validate ----------------------------------------------------------------------------


@dataclass
class Report:
    commit: str
    sequence: int
    accepted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> bytes:
        return _json(
            {
                "commit": self.commit,
                "sequence": self.sequence,
                "accepted": self.accepted,
                "removed": self.removed,
                "findings": [asdict(f) for f in self.findings],
            }
        )


def _site(buckets: Buckets, manifest: Manifest, sink: FindingSink) -> Site | None:
    return parse_site(_blob(buckets.sources, manifest.blob_of(SITE_PATH)), sink)


def validate_commit(manifest: Manifest, buckets: Buckets) -> tuple[Report, dict[str, Any] | None]:
    """Check a commit and keep its report; returns the report and the message for render
    (None: nothing to do)."""
    report, message = _validate(manifest, buckets)
    buckets.sources.put(
        report_key(manifest.commit), report.to_json(), content_type="application/json"
    )
    return report, message


def _validate(manifest: Manifest, buckets: Buckets) -> tuple[Report, dict[str, Any] | None]:
    report = Report(manifest.commit, manifest.sequence)
    known: dict[str, str] = {}  # source path -> language, for renamed articles' old pages
    accepted: dict[str, Article] = {}
    sink = FindingSink("site.yml")
    site = _site(buckets, manifest, sink)
    report.findings.extend(sink.findings)
    if site is None:
        return report, None
    touched: dict[int, dict[str, Any]] = {}
    for change in manifest.changes:
        for path in filter(None, (change.old_path, change.path)):
            number = issue_of(path)
            if number is not None:
                touched.setdefault(number, {"articles": [], "removals": []})
    for number, work in sorted(touched.items()):
        issue_path = f"issues/{number}/issue.yml"
        issue_blob = manifest.blob_of(issue_path)
        issue_sink = FindingSink(issue_path)
        issue = (
            parse_issue(_blob(buckets.sources, issue_blob), issue_sink, number, site)
            if issue_blob
            else None
        )
        if issue_blob is None:
            issue_sink.add(1, 1, None, f"issue {number} has no issue.yml")
        report.findings.extend(issue_sink.findings)
        work["issue_blob"] = issue_blob if issue is not None else None
        state = load_state(buckets.sources, number)
        known.update({e.path: e.language for e in state.entries()})
        candidates: list[tuple[Article, str]] = []
        broken: list[tuple[int, str]] = []
        for change in manifest.changes:
            if change.old_path and issue_of(change.old_path) == number:
                _remove(work, report, change.old_path)
            if issue_of(change.path) != number or not ARTICLE_PATH.fullmatch(change.path):
                continue
            if change.status == "D":
                _remove(work, report, change.path)
                continue
            slug = change.path.rsplit("/", 1)[1][:-3]
            article_sink = FindingSink(change.path)
            article = parse_article(
                change.path, _blob(buckets.sources, change.blob), number, slug, site, article_sink
            )
            report.findings.extend(article_sink.findings)
            if article is None or issue is None:
                broken.append((number, slug))
            else:
                candidates.append((article, str(change.blob)))
        removed = {f"issues/{number}/{s}.md" for s in work["removals"]}
        archive = [e for e in state.entries() if e.path not in removed]
        problems = check_archive([a for a, _ in candidates], archive, broken)
        report.findings.extend(problems)
        rejected = {f.path for f in problems}
        for article, blob in candidates:
            if article.path not in rejected:
                work["articles"].append({"path": article.path, "slug": article.slug, "blob": blob})
                report.accepted.append(article.path)
                accepted[article.path] = article
    report.findings.sort()
    issues = {
        str(n): w for n, w in touched.items() if (w["articles"] or w["removals"] or w["issue_blob"])
    }
    if not issues:
        return report, None
    redirects = {}
    for change in manifest.changes:
        old_match = ARTICLE_PATH.fullmatch(change.old_path or "")
        new = accepted.get(change.path)
        if change.status == "R" and old_match and new and change.old_path in known:
            old_url = urls.article(known[change.old_path], int(old_match[1]), old_match[2])
            redirects[old_url] = urls.article(new.language, new.issue, new.slug)
    return report, {
        "commit": manifest.commit,
        "sequence": manifest.sequence,
        "time": manifest.time,
        "site_blob": manifest.blob_of(SITE_PATH),
        "issues": issues,
        "redirects": redirects,
    }


def _remove(work: dict[str, Any], report: Report, path: str) -> None:
    match = ARTICLE_PATH.fullmatch(path)
    if match and match.group(2) not in work["removals"]:
        work["removals"].append(match.group(2))
        report.removed.append(path)


# --- render ------------------------------------------------------------------------------


def render_commit(message: dict[str, Any], buckets: Buckets, now: dt.datetime) -> dict[str, Any]:
    """Typeset each accepted article, keep its body, write its page; the index message."""
    # Imported here: validate and invalidate never load Jinja and Babel (cold start).
    from broadsheet.edition.pages import render_article

    sink = FindingSink("site.yml")
    site = parse_site(_blob(buckets.sources, message["site_blob"]), sink)
    if site is None:
        raise ValueError(f"site.yml of {message['commit']} no longer parses: {sink.findings}")
    sequence = int(message["sequence"])
    issues_out: dict[str, Any] = {}
    written: list[str] = []
    for key, work in message["issues"].items():
        number = int(key)
        entries, held = [], []
        bodies: dict[str, str] = {}
        for item in work["articles"]:
            article_sink = FindingSink(item["path"])
            article = parse_article(
                item["path"],
                _blob(buckets.sources, item["blob"]),
                number,
                item["slug"],
                site,
                article_sink,
                render=True,
            )
            if article is None:  # validated before; only a changed site.yml gets here
                raise ValueError(f"{item['path']} no longer validates: {article_sink.findings}")
            if buckets.sources.get(body_key(article.source_hash)) is None:
                buckets.sources.put(
                    body_key(article.source_hash),
                    article.body_html.encode(),
                    content_type="text/html; charset=utf-8",
                )
            entry = index.entry(site, article)
            if article.is_public(now):
                entries.append(entry)
                bodies[article.slug] = article.body_html
            else:
                held.append({**entry, "status": article.status})
        issues_out[key] = {
            "issue_blob": work.get("issue_blob"),
            "entries": entries,
            "held": held,
            "removals": work["removals"],
        }
        # The article's own page now, from the issue as it stands plus this commit; the
        # index stage re-renders it if the issue changed meanwhile.
        state = load_state(buckets.sources, number)
        if state.doc is None or not entries:
            continue
        gone = [
            (e["language"], e["slug"])
            for e in state.doc["articles"]
            if e["slug"] in work["removals"]
        ]
        doc = index.apply(site, state.doc, entries, gone)
        for entry in entries:
            if state.revisions.get(entry["slug"], -1) > sequence:
                continue  # a newer commit already changed (or removed) this article
            page = render_article(site, doc, entry["slug"], bodies[entry["slug"]])
            key = urls.object_key(entry["path"])
            if put_output(buckets.site, key, page, sequence, ordered=True):
                written.append(entry["path"])
    return {
        "commit": message["commit"],
        "sequence": sequence,
        "time": message.get("time"),
        "site_blob": message["site_blob"],
        "issues": issues_out,
        "written": written,
        "rebuild": bool(message.get("rebuild")),
        "redirects": message.get("redirects", {}),
    }


def put_output(
    store: ObjectStore, key: str, data: bytes, sequence: int, *, ordered: bool = False
) -> bool:
    """Write an output unless the same bytes are there; True when written.

    ``ordered`` outputs are never overwritten by an older commit's version.
    """
    current = store.get(key)
    if current is not None:
        if ordered and int(current.metadata.get(SEQUENCE, "-1")) > sequence:
            return False
        if current.body == data:
            return False
    cache = viewer.ASSET_CACHE if urls.is_fingerprinted(key) else viewer.HTML_CACHE
    store.put(
        key,
        data,
        content_type=urls.content_type(key),
        cache_control=cache,
        metadata={SEQUENCE: str(sequence)},
    )
    return True


# --- index -------------------------------------------------------------------------------


def _apply(
    site: Site, state: IssueState, issue: Issue | None, work: dict[str, Any], sequence: int
) -> None:
    """Apply one commit's changes to an issue state; the newest commit wins each article."""
    if issue is not None and sequence >= state.issue_revision:
        state.doc = index.with_issue(site, state.doc or index.empty(site, issue), issue)
        state.issue_revision = sequence
        state.issue_blob = work.get("issue_blob")
    if state.doc is None:
        raise Retry(f"issue {state.number} has no metadata yet (issue.yml not applied)")
    upserts, removals = [], []
    for entry in work["entries"]:
        if state.revisions.get(entry["slug"], -1) <= sequence:
            upserts.append(entry)
            state.held.pop(entry["slug"], None)
            state.revisions[entry["slug"]] = sequence
    for entry in work["held"]:
        if state.revisions.get(entry["slug"], -1) <= sequence:
            state.held[entry["slug"]] = entry
            removals.append((entry["language"], entry["slug"]))
            state.revisions[entry["slug"]] = sequence
    for slug in work["removals"]:
        if state.revisions.get(slug, -1) <= sequence:
            language = next((e["language"] for e in state.doc["articles"] if e["slug"] == slug), "")
            removals.append((language, slug))
            state.held.pop(slug, None)
            state.revisions[slug] = sequence  # a tombstone: an older add stays out
    state.doc = index.apply(site, state.doc, upserts, removals)


def _load_public(store: ObjectStore, numbers: Iterable[int]) -> dict[int, index.Doc]:
    docs = {}
    for number in numbers:
        stored = store.get(urls.object_key(urls.issue_index(number)))
        if stored is not None:
            docs[number] = index.loads(stored.body)
    return docs


def index_commit(
    message: dict[str, Any], buckets: Buckets, redirects: Redirects | None = None
) -> dict[str, Any]:
    """Update the touched issues and every listing; the invalidate message."""
    from broadsheet.edition.plan import State, feed_issues, make_plan, render, site_files

    sink = FindingSink("site.yml")
    site = parse_site(_blob(buckets.sources, message["site_blob"]), sink)
    if site is None:
        raise ValueError(f"site.yml of {message['commit']} no longer parses")
    sequence = int(message["sequence"])
    touched = sorted(int(n) for n in message["issues"])
    issues_stored = buckets.site.get(urls.object_key(urls.ISSUES_INDEX))
    issues_before = index.loads(issues_stored.body) if issues_stored else None
    before_docs = _load_public(
        buckets.site,
        set(touched) | {n for lang in site.languages for n in feed_issues(issues_before, lang)},
    )
    before = State(issues_before, before_docs)
    after = State(issues_before, dict(before_docs))
    for number in touched:
        work = message["issues"][str(number)]
        issue = None
        if work.get("issue_blob"):
            issue = parse_issue(
                _blob(buckets.sources, work["issue_blob"]), FindingSink("issue.yml"), number, site
            )
        for _attempt in range(MAX_ATTEMPTS):
            state = load_state(buckets.sources, number)
            _apply(site, state, issue, work, sequence)
            try:
                save_state(buckets.sources, state)
                break
            except PreconditionFailed:
                continue  # another writer got there first: read again and reapply
        else:
            raise Retry(f"issue {number}: the state kept changing under us")
        assert state.doc is not None
        after = after.with_doc(site, state.doc)
    # Feeds read the newest issues: load any that the new list needs and we lack.
    wanted = {n for lang in site.languages for n in feed_issues(after.issues, lang)}
    after.docs.update(_load_public(buckets.site, wanted - set(after.docs)))
    rebuild = bool(message.get("rebuild"))
    # A rebuild re-renders everything in scope (the templates changed, not the state);
    # writes of unchanged bytes are skipped all the same.
    plan = make_plan(site, State(None) if rebuild else before, after, touched)
    bodies: dict[tuple[int, str], str] = {}

    def body(number: int, slug: str) -> str:
        if (number, slug) not in bodies:
            entry = next(e for e in after.docs[number]["articles"] if e["slug"] == slug)
            stored = buckets.sources.get(body_key(entry["source_sha256"]))
            if stored is None:
                raise Retry(f"the body of {slug} is not stored yet")
            bodies[(number, slug)] = stored.body.decode()
        return bodies[(number, slug)]

    changed: list[str] = list(message.get("written", []))
    for old_url, new_url in message.get("redirects", {}).items():
        # The old address answers with a redirect at the edge from now on.
        follow(redirects or ObjectRedirects(buckets.sources), old_url, new_url)
    _remember_site(buckets, message["site_blob"], sequence)
    if issues_before is None or rebuild:  # the first publish, or new templates
        for path, data in site_files(site).items():
            if put_output(buckets.site, path.lstrip("/"), data, sequence):
                changed.append(path)
    for output in plan.write:
        if put_output(buckets.site, output.key, render(site, after, output, body), sequence):
            changed.append(output.path)
    for output in plan.delete:
        if buckets.site.get(output.key) is not None:
            buckets.site.delete(output.key)
            changed.append(output.path)
    return {"commit": message["commit"], "sequence": sequence, "paths": sorted(set(changed))}


SITE_STATE = "state/site.json"


def _remember_site(buckets: Buckets, site_blob: str, sequence: int) -> None:
    """Keep the newest site.yml applied, so a rebuild renders with it."""
    stored = buckets.sources.get(SITE_STATE)
    if stored is not None and json.loads(stored.body)["sequence"] >= sequence:
        return
    buckets.sources.put(
        SITE_STATE,
        _json({"blob": site_blob, "sequence": sequence}),
        content_type="application/json",
    )


def rebuild_messages(buckets: Buckets, rebuild_id: str) -> list[dict[str, Any]]:
    """One render message per published issue: the fan-out of a full rebuild.

    Each carries the issue's current articles at its current sequence, so a commit that
    lands meanwhile (with a higher sequence) still wins.
    """
    stored = buckets.sources.get(SITE_STATE)
    if stored is None:
        return []
    site_blob = json.loads(stored.body)["blob"]
    messages = []
    for key in buckets.sources.keys("state/issues/"):
        number = int(key.rsplit("/", 1)[1].removesuffix(".json"))
        state = load_state(buckets.sources, number)
        if state.doc is None:
            continue
        entries = list(state.doc["articles"]) + list(state.held.values())
        articles = [
            {
                "path": f"issues/{number}/{e['slug']}.md",
                "slug": e["slug"],
                "blob": e["source_sha256"],
            }
            for e in entries
        ]
        sequence = max([state.issue_revision, *state.revisions.values()])
        messages.append(
            {
                "commit": f"rebuild-{rebuild_id}-{number}",
                "issue": number,
                "rebuild": True,
                "sequence": sequence,
                "time": dt.datetime.now(dt.UTC).isoformat(),
                "site_blob": site_blob,
                "issues": {
                    str(number): {
                        "issue_blob": state.issue_blob,
                        "articles": articles,
                        "removals": [],
                    }
                },
            }
        )
    return messages


# --- invalidate --------------------------------------------------------------------------


def invalidate_commit(message: dict[str, Any], cdn: CDN) -> dict[str, Any]:
    """One invalidation per commit; the commit is its CallerReference, so a retry of the
    same message is answered with the same invalidation."""
    paths = urls.invalidation_paths(message["paths"])
    if not paths:
        return {"commit": message["commit"], "paths": [], "invalidation": None}
    invalidation = cdn.invalidate(paths, reference=f"broadsheet-{message['commit']}")
    return {"commit": message["commit"], "paths": paths, "invalidation": invalidation}


# --- the whole flow, for the local runner and tests ----------------------------------------


def publish_through(
    manifest: Manifest,
    buckets: Buckets,
    cdn: CDN,
    now: dt.datetime,
    redirects: Redirects | None = None,
) -> dict[str, Any]:
    """Run all four stages in this process, in order: what the queues do in the cloud."""
    report, message = validate_commit(manifest, buckets)
    if message is None:
        return {"report": report, "paths": [], "invalidation": None}
    indexed = index_commit(render_commit(message, buckets, now), buckets, redirects)
    result = invalidate_commit(indexed, cdn)
    return {"report": report, "paths": indexed["paths"], "invalidation": result["invalidation"]}
