"""The site-wide partition: home, archive, feeds, the list of issues, the sitemap index,
the news sitemap, and the site's own files (stylesheet, 404, robots.txt, schemas).

They are made from the issues' lines (one per issue with public articles: its summary,
and when its newest article in each language became public), the newest site.yml
applied, and the few issue documents they show (the latest issue, those the feeds need,
and the last two days' for the news sitemap), rendered whole by the full build's own
function (``edition.plan.site_wide``) and reconciled (``reconcile``). The lines are the
partition's index of its inputs, kept in its applied record: each issue's job puts its
own line there, in the same write that records the files. What each issue last put in
the listings (a short fingerprint of its items in each, ``beats.shares``, and the
site.yml they were read with) is kept in a small record of the issue's own
(``listed/<n>``, no files, written by the shared group alone): the next job of the issue
compares its items with it to know which listings to look at, and no job reads the
shares of every issue.
"""

from __future__ import annotations

from typing import Any

from broadsheet.content.findings import FindingSink
from broadsheet.content.site import Site, parse_site
from broadsheet.edition import feed, index, sitemap, urls
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.plan import State, site_wide
from broadsheet.pipeline.env import Env, blob
from broadsheet.pipeline.reconcile import Applied, Diff, diff, inputs_digest, load_applied
from broadsheet.pipeline.state import IssueState

PARTITION = "site"


def line(site: Site, doc: IssueDoc | None) -> dict[str, Any] | None:
    """An issue's line: its summary, and when its newest article in each language became
    public (what the feeds choose issues by)."""
    if doc is None or not doc["articles"]:
        return None
    newest = {lang: feed.newest(doc, lang) for lang in site.languages}
    return {
        "summary": index.issue_summary(doc, site),
        "newest": {lang: list(first) for lang, first in newest.items() if first},
    }


def _parse(data: bytes) -> Site | None:
    return parse_site(data, FindingSink("site.yml"))


def listed(number: int) -> str:
    """The partition that keeps what issue ``number`` last put in the listings."""
    return f"listed/{number}"


def applied_shares(record: Applied) -> tuple[str | None, dict[str, str]]:
    """What the issue last put in the listings, as its ``listed`` record says: the
    site.yml its items were read with, and its share of each listing."""
    return record.data.get("site"), dict(record.data.get("beats", {}))


def shares_diff(record: Applied, state: IssueState, shares: dict[str, str]) -> Diff:
    """The issue's ``listed`` record as it must become; until the listings are done,
    the issue's share of each is in doubt (a run cut short leaves them to be looked at
    again by the issue's next job, whatever it changes)."""
    was_site, was = applied_shares(record)
    after = Applied({}, {"site": state.site_blob, "beats": shares}, record.etag, record.runs)
    change = Diff(listed(state.number), record, after, {}, [], [])
    if was != shares or was_site != state.site_blob:
        change.pending = {"site": was_site, "beats": dict.fromkeys(sorted({*was, *shares}), "")}
    return change


def site_diff(
    env: Env, states: list[IssueState], *, verify: bool = False
) -> tuple[str | None, Diff]:
    """The newest site.yml applied, and what the site-wide partition must become with
    each issue's line put among the others."""
    before = load_applied(env.sources, PARTITION)
    data = {"site_blob": None, "site_sequence": -1, "issues": {}, **before.data}
    data.pop("shares", None)  # kept per issue now (``listed``)
    issues = dict(data["issues"])
    for state in states:
        issue_site = _parse(blob(env.sources, state.site_blob)) if state.site_blob else None
        mine = line(issue_site, state.doc) if issue_site else None
        if mine is None:
            issues.pop(str(state.number), None)
        else:
            issues[str(state.number)] = mine
        if state.site_blob and state.sequence > int(data["site_sequence"]):
            data["site_blob"], data["site_sequence"] = state.site_blob, state.sequence
    data["issues"] = issues
    newest: str | None = data["site_blob"]  # what every page of the site shows
    site = _parse(blob(env.sources, newest)) if newest else None
    made: dict[str, bytes] = {}
    digest = ""
    if site is not None:
        given = _inputs(env, states, site, issues)
        # Rendered whole (it is small): every file made from the same inputs.
        digest = inputs_digest(newest, given.issues, given.docs, given.now)
        made = site_wide(site, given)
    wanted = dict.fromkeys(made, digest)
    # With no site.yml applied yet, nothing is rendered, and whatever was stays.
    if site is None:
        wanted = {k: str(before.digest(k)) for k in before.files}
    change = diff(env.sources, PARTITION, wanted, lambda _: made, data, before, verify=verify)
    return newest, change


def _inputs(env: Env, states: list[IssueState], site: Site, lines: dict[str, Any]) -> State:
    """What the site-wide files are rendered from: the list of issues, and the few issue
    documents they show (the latest issue, those the feeds need, and the last two days'
    for news)."""
    issues = index.issues_doc(site, [entry["summary"] for entry in lines.values()])
    docs: dict[int, IssueDoc] = {s.number: s.doc for s in states if s.doc is not None}

    def load(number: int) -> IssueDoc:
        if number not in docs:
            stored = env.site.get(urls.object_key(urls.issue_index(number)))
            docs[number] = index.loads(stored.body) if stored else _nothing(number)
        return docs[number]

    if issues["latest"] is not None:
        docs[issues["latest"]] = load(issues["latest"])
    for language in site.languages:
        newest_by_issue = {
            int(n): (entry["newest"][language][0], entry["newest"][language][1])
            for n, entry in lines.items()
            if language in entry["newest"]
        }
        docs.update(feed.gather(newest_by_issue, load, language))
    now = index.utc(env.now())
    since = sitemap.news_since(now)
    for number, entry in lines.items():
        if any(first[0] > since for first in entry["newest"].values()):
            load(int(number))
    return State(issues, docs, now)


def _nothing(number: int) -> IssueDoc:
    # Listed, but its document is not written yet (its job was cut short and will run
    # again, rendering these listings once more): shown as empty meanwhile.
    return {
        "version": index.VERSION,
        "number": number,
        "date": "1970-01-01",
        "title": {},
        "urls": {},
        "index": "",
        "order": [],
        "articles": [],
    }
