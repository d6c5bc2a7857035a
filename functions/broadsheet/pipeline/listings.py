"""The site-wide listings: home, archive, feeds, the list of issues, the sitemap index,
and the site's own files (stylesheet, 404, robots.txt, schemas).

They are made from the site's state: one line per issue, kept up to date by each issue
as it is applied, and the few issue documents they show (the latest issue, those the
feeds need, and the last two days' for the news sitemap). Each is rendered whole and
compared with the ledger of what was written (``ledger``), so what changed is known
exactly, however the jobs before were cut short or raced each other.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from broadsheet.adapters.store import update
from broadsheet.content.findings import FindingSink
from broadsheet.content.site import Site, parse_site
from broadsheet.edition import feed, index, sitemap, urls
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.plan import State, site_wide
from broadsheet.pipeline import ledger
from broadsheet.pipeline.beats import Newest, Notes
from broadsheet.pipeline.env import Env, blob
from broadsheet.pipeline.messages import SITE_STATE_KEY
from broadsheet.pipeline.state import IssueState, SiteState


def line(site: Site, doc: IssueDoc | None) -> dict[str, Any] | None:
    """An issue's line in the site's state: its summary, and when its newest article in
    each language became public (what the feeds choose issues by)."""
    if doc is None or not doc["articles"]:
        return None
    newest = {lang: feed.newest(doc, lang) for lang in site.languages}
    return {
        "summary": index.issue_summary(doc, site),
        "newest": {lang: list(first) for lang, first in newest.items() if first},
    }


def _parse(data: bytes) -> Site | None:
    return parse_site(data, FindingSink("site.yml"))


def update_listings(env: Env, state: IssueState, notes: Notes) -> Newest:
    """Record the issue's line, then make every site-wide file match the site's state;
    ``notes`` is told each path before it changes. The newest site.yml applied."""
    issue_site = _parse(blob(env.sources, state.site_blob)) if state.site_blob else None
    mine = line(issue_site, state.doc) if issue_site else None

    def record_line(raw: bytes | None) -> bytes:
        site_state = SiteState.from_json(raw)
        if mine is None:
            site_state.issues.pop(str(state.number), None)
        else:
            site_state.issues[str(state.number)] = mine
        if state.site_blob and state.sequence > site_state.site_sequence:
            site_state.site_blob, site_state.site_sequence = state.site_blob, state.sequence
        # Every job moves the version on: what it renders next reflects every issue
        # document written before, so it wins over whatever a job before it renders.
        site_state.version += 1
        return site_state.to_json()

    site_state = SiteState.from_json(update(env.sources, SITE_STATE_KEY, record_line))
    newest = Newest(site_state.site_blob, site_state.site_sequence)
    site = _parse(blob(env.sources, site_state.site_blob)) if site_state.site_blob else None
    if site is None:  # nothing applied yet
        return newest
    made: dict[str, bytes | None] = dict(_render(env, state, site, site_state))
    made.update({key: None for key in site_state.ledger.maybe_existing() if key not in made})
    version = site_state.version
    if not deepcopy(site_state.ledger).claim(made, version):
        return newest
    todo: list[str] = []

    def claim(raw: bytes | None) -> bytes:
        now = SiteState.from_json(raw)
        todo[:] = now.ledger.claim(made, version)
        return now.to_json()

    update(env.sources, SITE_STATE_KEY, claim)
    if not todo:
        return newest
    notes.writing(["/" + key for key in todo])
    created = [
        k
        for k in todo
        if ledger.write(env.site, k, made[k], version, notes.replacing) == ledger.CREATED
    ]

    def clear(raw: bytes | None) -> bytes:
        now = SiteState.from_json(raw)
        now.ledger.cleared(todo, version)
        return now.to_json()

    after = SiteState.from_json(update(env.sources, SITE_STATE_KEY, clear))

    gone = {k for k in created if after.ledger.gone(k, version)}
    born = ["/" + k for k in ledger.kept(env.site, created, gone, version, notes.replacing)]
    if born:
        notes.created(born)
    return newest


def _render(env: Env, state: IssueState, site: Site, site_state: SiteState) -> dict[str, bytes]:
    """Every site-wide file as the site's state has it, reading the few issue documents
    they show: the latest issue, those the feeds need, and the last two days' for news."""
    issues = index.issues_doc(site, [entry["summary"] for entry in site_state.issues.values()])
    docs: dict[int, IssueDoc] = {}
    if state.doc is not None:
        docs[state.number] = state.doc

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
            for n, entry in site_state.issues.items()
            if language in entry["newest"]
        }
        docs.update(feed.gather(newest_by_issue, load, language))
    now = index.utc(env.now())
    since = sitemap.news_since(now)
    for number, entry in site_state.issues.items():
        if any(first[0] > since for first in entry["newest"].values()):
            load(int(number))
    return site_wide(site, State(issues, docs, now))


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
