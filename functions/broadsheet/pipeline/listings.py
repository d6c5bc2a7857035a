"""The site-wide listings: home, archive, feeds, the list of issues, the sitemap index,
and the site's own files (stylesheet, 404, robots.txt, schemas).

They are made from the site's state: one line per issue, kept up to date by each issue
as it is applied, and the few issue documents they show (the latest issue, and those the
feeds need). Each is rendered whole and compared by its hash with what was written last,
so what changed is known exactly, however the jobs before were cut short.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from broadsheet.adapters.store import update
from broadsheet.content.findings import FindingSink
from broadsheet.content.site import Site, parse_site
from broadsheet.edition import feed, index, urls
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.plan import State, site_wide
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


def update_listings(env: Env, state: IssueState, note: Callable[[list[str]], None]) -> list[str]:
    """Record the issue's line, then make every site-wide file match the site's state;
    ``note`` is told each path before it changes. The paths changed."""
    from broadsheet.pipeline.index import put_output

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
        return site_state.to_json()

    site_state = SiteState.from_json(update(env.sources, SITE_STATE_KEY, record_line))
    if site_state.site_blob is None:
        return []
    site = _parse(blob(env.sources, site_state.site_blob))
    if site is None:
        return []
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
        newest = {
            int(n): (entry["newest"][language][0], entry["newest"][language][1])
            for n, entry in site_state.issues.items()
            if language in entry["newest"]
        }
        docs.update(feed.gather(newest, load, language))
    files = site_wide(site, State(issues, docs))
    hashes = {key: hashlib.sha256(data).hexdigest() for key, data in files.items()}
    changed = sorted(k for k in files if site_state.rendered.get(k) != hashes[k])
    stale = sorted(k for k in site_state.rendered if k not in files)
    if not changed and not stale:
        return []
    paths = ["/" + key for key in changed + stale]
    note(paths)
    for key in changed:
        put_output(env.site, key, files[key], site_state.site_sequence)
    for key in stale:
        env.site.delete(key)

    def record_rendered(raw: bytes | None) -> bytes:
        now = SiteState.from_json(raw)
        now.rendered.update({key: hashes[key] for key in changed})
        for key in stale:
            now.rendered.pop(key, None)
        return now.to_json()

    update(env.sources, SITE_STATE_KEY, record_rendered)
    return paths


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
