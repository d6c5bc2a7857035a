"""The listings across issues in the pipeline: sections, tags, authors, corrections.

Each listing (a *beat*) is a partition of the site: its pages and feed, reconciled
(``reconcile``) from its items. Its applied record keeps, beside its files, the list of
its blocks: at most ``PAGE`` (50) items each, filled from the oldest with whole moments
(``edition.beats.blocks``), each stored under its own hash
(``state/beats/<lang>/<kind>/<key>/<hash>.json``). The blocks are an index of the issue
documents, made again from them whenever an issue is applied: an issue's job replaces
that issue's items in the beats whose share changed, reading the record and the blocks
holding the issue's items (for a new article of the newest issue, the newest block).

A page is made from the beat's name, site.yml and the blocks it shows, so its inputs'
digest comes from the blocks' digests without reading them: page ``k`` from block
``k``, the first page and the feed from the newest two. Only the pages whose digest
changed are rendered (for a new article, the first page and the feed), and only the
blocks they show are read. So a commit costs a few small reads per beat, however long
the beat or the archive; only an insertion into the middle (a back issue imported, an
old article deleted) re-cuts the blocks after it, at most the beat's length over
``PAGE`` of them.

The pages listing every section and every tag (``/<lang>/sections/``, ``/<lang>/tags/``)
are partitions too, each made from the names of the beats with pages (key -> the name
they show), kept in its record likewise. One job's changes to all of these are carried
out together, in the shared group's job: the files, what to clear, then the records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from broadsheet.adapters.store import put_new
from broadsheet.content.findings import FindingSink
from broadsheet.content.site import Site, parse_site
from broadsheet.edition import beats as listing
from broadsheet.edition import urls
from broadsheet.edition.beats import (
    INDEXED,
    Beat,
    Item,
    display_name,
    feed_key,
    index_file,
    index_key,
    items_of,
    page_files,
    page_numbers,
    sort_key,
)
from broadsheet.edition.index import IssueDoc
from broadsheet.errors import Retryable
from broadsheet.pipeline.env import Env, blob, side_by_side
from broadsheet.pipeline.reconcile import (
    Applied,
    Diff,
    diff,
    inputs_digest,
    load_applied,
)

BEATS = "state/beats/"


def partition(beat: Beat) -> str:
    return f"beats/{beat.ident}"


def block_key(beat: Beat, digest: str) -> str:
    # Beside its beat's head, not shared: a block dropped by one beat is deleted at once.
    return f"{BEATS}{beat.ident}/{digest}.json"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def share(items: list[Item]) -> str:
    """A short fingerprint of an issue's items in one beat (what the site-wide record
    keeps of each issue, to tell which beats a change of the issue touches)."""
    return hashlib.sha256(_json(sorted(items, key=sort_key))).hexdigest()[:20]


def shares(site: Site | None, doc: IssueDoc | None) -> dict[str, str]:
    if site is None or doc is None:
        return {}
    return {beat.ident: share(items) for beat, items in items_of(site, doc).items()}


# --- the beat's documents ------------------------------------------------------------------


@dataclass
class Block:
    digest: str
    count: int
    first: list[Any]  # sort key of its oldest item
    last: list[Any]  # and of its newest
    issues: list[int]  # the issues it holds items of

    @classmethod
    def of(cls, items: list[Item]) -> tuple[Block, bytes]:
        data = _json(items)
        issues = sorted({int(i["issue"]) for i in items})
        digest = hashlib.sha256(data).hexdigest()[:32]
        return cls(digest, len(items), items[0]["sort"], items[-1]["sort"], issues), data


def _blocks_of(applied: Applied) -> list[Block]:
    return [Block(**b) for b in applied.data.get("blocks", [])]


class _Stale(Exception):
    """A block the head names is gone: another job replaced the head meanwhile."""


class _Blocks:
    def __init__(self, env: Env, beat: Beat) -> None:
        self.env, self.beat = env, beat
        self.read: dict[str, list[Item]] = {}

    def items(self, block: Block) -> list[Item]:
        if block.digest not in self.read:
            stored = self.env.sources.get(block_key(self.beat, block.digest))
            if stored is None:
                raise _Stale(block.digest)
            self.read[block.digest] = json.loads(stored.body)
        return self.read[block.digest]


def _key(item: Item) -> tuple[str, str, int]:
    return sort_key(item)


def _replace(
    blocks: list[Block], number: int, items: list[Item], store: _Blocks
) -> tuple[list[Block], dict[str, bytes]]:
    """The blocks with issue ``number``'s items replaced by ``items``, and the bytes of
    each new block. The blocks are cut as the full build cuts them (``listing.blocks``,
    whole moments from the oldest), which is the same cut begun at any block whose first
    moment starts there and is not changing: so only the blocks from the last such one
    before the change are read, and those after it only until the cut is back in step
    (at once when the count and sizes are unchanged; otherwise to the end)."""
    fresh = sorted(items, key=_key)
    span = {i for i, b in enumerate(blocks) if number in b.issues}
    for item in fresh:
        key = _key(item)
        at = next((i for i, b in enumerate(blocks) if tuple(b.last) >= key), len(blocks) - 1)
        if at >= 0:
            span.add(at)
    if not blocks:
        span = {0} if fresh else set()
    if not span:
        return blocks, {}
    low, high = min(span), max(span)
    moments = [listing.moment(i) for i in fresh] + [
        listing.moment(i)
        for b in blocks[low : high + 1]
        for i in store.items(b)
        if int(i["issue"]) == number
    ]
    earliest, latest = min(moments, default=""), max(moments, default="")

    def opens_a_moment(i: int) -> bool:  # block i's first moment is not the one before's
        return bool(blocks[i - 1].last[0] != blocks[i].first[0])

    # Back to a block that opens a moment older than the change.
    while low > 0 and (str(blocks[low].first[0]) >= earliest or not opens_a_moment(low)):
        low -= 1
    # On past every block whose first moment may take part in the change.
    while high + 1 < len(blocks) and (
        str(blocks[high + 1].first[0]) <= latest or not opens_a_moment(high + 1)
    ):
        high += 1
    old = [item for b in blocks[low : high + 1] for item in store.items(b)]
    merged = sorted([i for i in old if int(i["issue"]) != number] + fresh, key=_key)
    end = high + 1
    rebuilt_items = listing.blocks(merged)
    if [len(b) for b in rebuilt_items] != [b.count for b in blocks[low:end]]:
        merged += [item for b in blocks[end:] for item in store.items(b)]
        end = len(blocks)
        rebuilt_items = listing.blocks(merged)
    rebuilt, data = [], {}
    for part in rebuilt_items:
        block, raw = Block.of(part)
        rebuilt.append(block)
        data[block.digest] = raw
        store.read[block.digest] = part
    return blocks[:low] + rebuilt + blocks[end:], data


def _sites(env: Env) -> Callable[[str], Site | None]:
    parsed: dict[str, Site | None] = {}

    def site(digest: str) -> Site | None:
        if digest not in parsed:
            parsed[digest] = parse_site(blob(env.sources, digest), FindingSink("site.yml"))
        return parsed[digest]

    return site


# --- one beat ------------------------------------------------------------------------------


def _has_pages(site: Site, beat: Beat, blocks: list[Block]) -> bool:
    # The corrections page says when there are none; an empty tag has no page.
    return beat.language in site.languages and (bool(blocks) or beat.kind == "correction")


def page_inputs(context: str, beat: Beat, blocks: list[Block]) -> dict[str, str]:
    """Each file of a beat by key, with the digest of what it is made from: page ``k``
    from its block, the first page and the feed from the newest two and the count."""
    sizes = [b.count for b in blocks]
    digests = [b.digest for b in blocks]
    wanted = {}
    for number in page_numbers(sizes):
        shows = [*digests[-2:], str(len(digests))] if number == 0 else [digests[number - 1]]
        wanted[urls.object_key(beat.page_path(number))] = inputs_digest(context, number, shows)
    feed = feed_key(beat)
    if feed:
        wanted[feed] = inputs_digest(context, "feed", digests[-2:], len(digests))
    return wanted


@dataclass
class BeatChange:
    diff: Diff
    name: str | None  # what its pages call it (None: it has no page)
    dropped: list[str]  # keys of blocks no longer named, deleted once the record is saved


def update_beat(
    env: Env,
    beat: Beat,
    changes: list[tuple[int, list[Item]]],
    site: Site,
    site_blob: str,
    *,
    verify: bool = False,
) -> BeatChange:
    """Each issue's items in the beat made what ``changes`` says (issue number, items),
    and what its pages must become for it (the new blocks are written at once: they are
    named by their bytes)."""
    before = load_applied(env.sources, partition(beat))
    old = _blocks_of(before)
    store = _Blocks(env, beat)
    blocks, written = old, {}
    try:
        for number, items in changes:
            blocks, made = _replace(blocks, number, items, store)
            written.update(made)
    except _Stale as error:  # a block its record names is gone: the cache was lost
        raise Retryable(f"the listing {beat.path} names a block that is gone") from error
    for digest in sorted({b.digest for b in blocks} & set(written)):  # not one cut again
        put_new(env.sources, block_key(beat, digest), written[digest])
    name: str | None = None
    wanted: dict[str, str] = {}
    if _has_pages(site, beat, blocks):
        newest = store.items(blocks[-1])[-1] if blocks else None
        name = display_name(site, beat, newest)
        wanted = page_inputs(inputs_digest(site_blob, beat.ident, name), beat, blocks)
    sizes = [b.count for b in blocks]
    pages = {urls.object_key(beat.page_path(n)): n for n in page_numbers(sizes)}

    def render(keys: list[str]) -> dict[str, bytes]:
        assert name is not None
        numbers = sorted({pages.get(k, 0) for k in keys})
        return page_files(site, beat, name, sizes, lambda i: store.items(blocks[i]), numbers)

    data = {"blocks": [asdict(b) for b in blocks]}
    change = diff(env.sources, partition(beat), wanted, render, data, before, verify=verify)
    dropped = sorted({b.digest for b in old} - {b.digest for b in blocks})
    return BeatChange(change, name, [block_key(beat, d) for d in dropped])


# --- the names of every section and tag ----------------------------------------------------


def update_names(
    env: Env,
    language: str,
    kind: str,
    names: Mapping[str, str | None],
    site: Site,
    site_blob: str,
    *,
    verify: bool = False,
) -> Diff:
    """What ``/<lang>/sections/`` or ``/<lang>/tags/`` must become with these beats'
    names (None: the beat has no page) among the others."""
    where = f"beats/{language}/{kind}"
    before = load_applied(env.sources, where)
    entries: dict[str, str] = dict(before.data.get("names", {}))
    for key, name in names.items():
        if name is None:
            entries.pop(key, None)
        else:
            entries[key] = name
    entries = dict(sorted(entries.items()))
    page = index_key(language, kind)
    wanted = {}
    if language in site.languages:
        wanted[page] = inputs_digest(site_blob, language, kind, entries)

    def render(_: list[str]) -> dict[str, bytes]:
        return {page: index_file(site, language, kind, entries)}

    return diff(env.sources, where, wanted, render, {"names": entries}, before, verify=verify)


# --- an issue's job ------------------------------------------------------------------------


def everywhere(languages: Iterable[str]) -> tuple[list[str], list[str]]:
    """What a changed site.yml touches besides the issue's own beats: each language's
    corrections page and its indexes of sections and tags (they exist even when empty)."""
    beats = [Beat("correction", lang, "all").ident for lang in sorted(set(languages))]
    indexes = [f"{lang}/{kind}" for lang in sorted(set(languages)) for kind in INDEXED]
    return beats, indexes


class Touched(NamedTuple):
    """What an issue's shared job reconciles of the listings: the issue, the site.yml it
    was read with, its document, the beats to reconcile, and those of them whose items
    of the issue changed (the others are only rendered again, with a new site.yml)."""

    number: int
    site: Site | None
    doc: IssueDoc | None
    beats: list[str]
    moved: set[str]


def beat_diffs(
    env: Env,
    issues: list[Touched],
    indexes: Iterable[str],
    newest: str | None,
    *,
    verify: bool = False,
) -> tuple[list[Diff], list[str]]:
    """What the beats each issue touches must become with its items as they are now,
    and the indexes named; every page rendered with the newest site.yml applied. And the
    blocks no longer named, to delete once the records are saved. A beat several issues
    touch is reconciled once, with all their items; the beats are reconciled side by
    side (``env.workers`` at once: mostly waiting on the bucket)."""
    if newest is None:
        return [], []
    shown = _sites(env)(newest)
    if shown is None:  # a site.yml this code cannot read: touch nothing
        return [], []
    by_beat: dict[str, list[tuple[int, list[Item]]]] = {}
    for touched in issues:
        site, doc = touched.site, touched.doc
        items = items_of(site, doc) if site is not None and doc is not None else {}
        for ident in touched.beats:
            beat = Beat.from_ident(ident)
            replaced = by_beat.setdefault(ident, [])
            if ident in touched.moved:  # else its items there are as they were
                replaced.append((touched.number, items.get(beat, [])))
    names: dict[str, dict[str, str | None]] = {name: {} for name in indexes}

    def reconcile(ident: str) -> BeatChange:
        return update_beat(
            env, Beat.from_ident(ident), by_beat[ident], shown, newest, verify=verify
        )

    idents = sorted(by_beat)
    changes = side_by_side(env.workers, reconcile, idents)
    for ident, change in zip(idents, changes, strict=True):
        beat = Beat.from_ident(ident)
        if beat.kind in INDEXED:
            names.setdefault(f"{beat.language}/{beat.kind}", {})[beat.key] = change.name
    diffs = [c.diff for c in changes]
    for index_name, changed in sorted(names.items()):
        language, kind = index_name.split("/")
        diffs.append(update_names(env, language, kind, changed, shown, newest, verify=verify))
    return diffs, [key for change in changes for key in change.dropped]
