"""Redirects from renamed articles' old addresses, derived, never accumulated.

Every rename the index has seen is an edge from the old article (issue/slug) to the new
one, with the address the old one was last public at. The redirect table is a function
of those edges and of which articles are public now: an old address redirects, in one
hop, to the first public article its edges lead to; it does not redirect when it is a
page again (a rename undone, a slug reused), nor when the chain ends at nothing public
(renamed into a draft or an embargo: no dead link, no unpublished slug shown).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from broadsheet.adapters.redirects import sync
from broadsheet.adapters.store import update
from broadsheet.edition import index, urls
from broadsheet.edition.index import IssueDoc
from broadsheet.pipeline.env import Env
from broadsheet.pipeline.manifest import issue_of
from broadsheet.pipeline.messages import RENAMES_KEY
from broadsheet.pipeline.state import IssueState


def article_key(path: str) -> str:
    """``issues/410/slug.md`` → ``410/slug``."""
    return path.removeprefix("issues/").removesuffix(".md")


def _public(doc: IssueDoc | None) -> dict[str, str]:
    if doc is None:
        return {}
    return {f"{doc['number']}/{e['slug']}": e["path"] for e in doc["articles"]}


def derive(edges: dict[str, dict[str, Any]], public: dict[str, str | None]) -> dict[str, str]:
    """The redirect table: old address → the public page its renames lead to."""
    table = {}
    for source, edge in edges.items():
        address = edge.get("url")
        if not address or public.get(source):
            continue
        seen, target = {source}, edge["to"]
        while target and target not in seen:
            if public.get(target):
                table[address] = str(public[target])
                break
            seen.add(target)
            target = edges.get(target, {}).get("to")
    return table


def table_from_history(
    history: Iterable[tuple[str, str, str | None]], docs: Iterable[IssueDoc]
) -> dict[str, str]:
    """The redirect table of a built site: the renames in git, oldest first, (old path,
    new path, the address the old one was public at), against the issues' documents as
    built. What the preview serves, by the rules the CDN's table is derived by."""
    edges = {article_key(old): {"to": article_key(new), "url": url} for old, new, url in history}
    public: dict[str, str | None] = {}
    for doc in docs:
        public.update(_public(doc))
    return derive(edges, public)


def successors(
    edges: dict[str, str], number: int, absent: Iterable[str], present: Iterable[str]
) -> dict[str, str]:
    """For each slug of issue ``number`` in ``absent`` (accepted, no longer in the
    folder), the slug in ``present`` its renames lead to within the issue, if any:
    ``edges`` maps an article key (``410/slug``) to the key it was renamed to."""
    here, found = set(present), {}
    prefix = f"{number}/"
    for slug in absent:
        seen, key = set(), edges.get(prefix + slug)
        while key and key.startswith(prefix) and key not in seen:
            if key.removeprefix(prefix) in here:
                found[slug] = key.removeprefix(prefix)
                break
            seen.add(key)
            key = edges.get(key)
    return found


def known_edges(env: Env, renames: list[list[str]]) -> dict[str, str]:
    """Every rename recorded, and this job's own (not recorded yet), as article keys."""
    stored = env.sources.get(RENAMES_KEY)
    data = json.loads(stored.body) if stored else {"edges": {}}
    edges = {source: str(edge["to"]) for source, edge in data["edges"].items()}
    edges.update({article_key(old): article_key(new) for old, new, *_ in renames})
    return edges


def record_renames(
    env: Env, state: IssueState, renames: list[list[str]], before: IssueDoc | None
) -> set[str]:
    """Record this issue's renames and which of its articles are public (one conditional
    update of the history, however many issues do so at once). Costs one read when the
    issue has no part in any rename. The redirect table follows in the shared group
    (``sync_redirects``). The old addresses, public before, whose renames lead to an
    article public now: they redirect rather than go."""
    mine = _public(state.doc)
    was = _public(before)
    prefix = f"{state.number}/"
    elsewhere: dict[str, str | None] = {}
    for _old, new, *_ in renames:
        number = issue_of(new)
        if number is not None and number != state.number:
            stored = env.site.get(urls.object_key(urls.issue_index(number)))
            other = _public(index.loads(stored.body)) if stored else {}
            elsewhere[article_key(new)] = other.get(article_key(new))

    def change(raw: bytes | None) -> bytes | None:
        data = json.loads(raw) if raw else {"edges": {}, "public": {}}
        edges, public = data["edges"], data["public"]
        before_text = json.dumps(data, sort_keys=True)
        for old, new, *hint in renames:
            source = article_key(old)
            # Where it was last public: this issue's document before the change, the
            # table's record, or (a snapshot's history, read from git) the address then.
            address = was.get(source) or public.get(source) or (hint[0] if hint else None)
            edges[source] = {"to": article_key(new), "url": address or None}
        for key, value in elsewhere.items():
            public.setdefault(key, value)
        known = set(edges) | {e["to"] for e in edges.values()}
        for key in known:
            if key.startswith(prefix):
                public[key] = mine.get(key)
        if json.dumps(data, sort_keys=True) == before_text:
            return None
        return json.dumps(data, sort_keys=True).encode()

    final = update(env.sources, RENAMES_KEY, change)
    data = json.loads(final) if final else {"edges": {}, "public": {}}
    # By every rename recorded, not this job's alone: an article renamed into a file with
    # findings waited at its old address, and goes when a later commit fixes the new one.
    table = derive(data["edges"], {**data["public"], **elsewhere, **mine})
    return {address for address in was.values() if address in table}


def sync_redirects(env: Env, synced: str | None) -> str:
    """Make the redirect table what the renames say, unless ``synced`` (the digest of
    the table last made) says it is already; the digest of the table now. One writer:
    the shared group's."""
    stored = env.sources.get(RENAMES_KEY)
    data = json.loads(stored.body) if stored else {"edges": {}, "public": {}}
    table = derive(data["edges"], data["public"])
    digest = hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()[:16]
    if digest != synced:
        sync(env.redirects, table)
    return digest
