"""The listings across issues in the pipeline: sections, tags, authors, corrections.

A beat lives in the source bucket as a head (``state/beats/<lang>/<kind>/<key>.json``)
naming its blocks: at most ``PAGE`` (50) items each, filled from the oldest with whole
moments (``edition.beats.blocks``), each stored under its own hash beside the head. An
issue's job replaces that issue's items in the beats whose share changed: it reads the
head and the blocks holding the issue's items (for a new article of the newest issue,
the newest block), writes the blocks that changed, renders the pages they show (the
first page, and an older page only when its block changed), and saves the head with
If-Match. So a commit costs a few small reads per beat, however long the beat or the
archive; only an insertion into the middle (a back issue imported, an old article
deleted) re-cuts the blocks after it, at most the beat's length over ``PAGE`` of them.

Everything is level-based, as the issue's own pages are: a job says "issue N's items
are now these" (guarded by the issue's sequence and revision, so an older job finishing
late changes nothing), and every page is compared by its hash with what was written, so
the same job run twice, or two jobs racing on one beat, leave what a full build writes.

The pages listing every section and every tag (``/<lang>/sections/``, ``/<lang>/tags/``)
are made from one small names document per language and kind, updated likewise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Protocol

from broadsheet.adapters.store import PreconditionFailed, put_new
from broadsheet.content.findings import FindingSink
from broadsheet.content.site import Site, parse_site
from broadsheet.edition import beats as listing
from broadsheet.edition import urls
from broadsheet.edition.beats import (
    FOLDERS,
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
from broadsheet.pipeline import ledger
from broadsheet.pipeline.env import Env, blob
from broadsheet.pipeline.ledger import Ledger

BEATS = "state/beats/"
# A head whose name changed says so in the same write: were it to keep the old ``listed``
# until the names document is updated, a crash between the two would leave it claiming a
# name the document no longer holds, and a later job restoring that name would not send it.
UNSETTLED = "\0unsettled"
ATTEMPTS = 12  # conditional writes lost in a row before the job is retried as a whole


class Notes(Protocol):
    """What a job tells its commit's outbox, which the commit's invalidation reads."""

    def writing(self, paths: list[str]) -> None:
        """These files are about to be written (or deleted)."""

    def created(self, paths: list[str]) -> None:
        """These were written where nothing was: no cache holds an older copy."""

    def replacing(self) -> None:
        """A write is about to replace or delete bytes a reader may hold."""


Mark = tuple[int, int]  # an issue's (sequence, revision): which of its jobs is newer


def head_key(beat: Beat) -> str:
    return f"{BEATS}{beat.ident}.json"


def block_key(beat: Beat, digest: str) -> str:
    # Beside its beat's head, not shared: a block dropped by one beat is deleted at once.
    return f"{BEATS}{beat.ident}/{digest}.json"


def names_key(language: str, kind: str) -> str:
    return f"{BEATS}{language}/{kind}.names.json"


@cache
def rendering_version() -> str:
    """What renders a listing page: the edition's code and templates. New code makes
    every beat render all its pages again the next time it is touched."""
    digest = hashlib.sha256()
    root = resources.files("broadsheet.edition")
    for folder in (root, root / "templates"):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_file() and entry.name.endswith((".py", ".html")):
                digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    import babel
    import jinja2

    digest.update(f"babel={babel.__version__} jinja2={jinja2.__version__}".encode())
    return digest.hexdigest()[:16]


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def share(items: list[Item]) -> str:
    """A short fingerprint of an issue's items in one beat (what the issue's state keeps,
    to tell which beats a commit changed)."""
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


@dataclass
class Head:
    generation: int = 0  # bumped by every write: the names document keeps the newest
    site_blob: str | None = None  # the newest site.yml any job brought
    site_sequence: int = -1
    blocks: list[Block] = field(default_factory=list)
    marks: dict[str, list[int]] = field(default_factory=dict)  # issue -> [sequence, revision]
    ledger: Ledger = field(default_factory=Ledger)  # its pages and feed
    rendered_with: str = ""  # site.yml and rendering version every page was made with
    name: str | None = None  # what its pages call it; None when it has no page
    # What the names document is known to list it as (UNSETTLED: a name is on its way).
    listed: str | None = None
    etag: str | None = None

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("etag")
        data["ledger"] = self.ledger.to_json()
        return _json(data)

    @classmethod
    def from_stored(cls, raw: bytes, etag: str) -> Head:
        data = json.loads(raw)
        data["blocks"] = [Block(**b) for b in data["blocks"]]
        data["ledger"] = Ledger.from_json(data.get("ledger"))
        return cls(**data, etag=etag)


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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- one beat ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Newest:
    """The newest site.yml applied anywhere (the site state's), which every listing shows."""

    blob: str | None
    sequence: int


def update_beat(
    env: Env,
    beat: Beat,
    number: int,
    mark: Mark,
    items: list[Item] | None,
    newest: Newest,
    site_of: Callable[[str], Site | None],
) -> tuple[Head, Claim | None]:
    """Make issue ``number``'s items in the beat ``items`` (None: leave them), and claim
    every page of the beat that must change for it to be what a full build would write.
    The head as saved, and its claim (None: nothing to write)."""
    key = head_key(beat)
    for _ in range(ATTEMPTS):
        stored = env.sources.get(key)
        head = Head.from_stored(stored.body, stored.etag) if stored else Head()
        before = head.to_json()
        if newest.blob and newest.sequence > head.site_sequence:
            head.site_blob, head.site_sequence = newest.blob, newest.sequence
        site = site_of(head.site_blob) if head.site_blob else None
        if head.site_blob and site is None:  # a site.yml this code cannot read: touch nothing
            return head, None
        store = _Blocks(env, beat)
        old_digests = {b.digest for b in head.blocks}
        written: dict[str, bytes] = {}
        try:
            mine = head.marks.get(str(number))
            if items is not None and (mine is None or tuple(mine) <= mark):
                head.blocks, written = _replace(head.blocks, number, items, store)
                head.marks[str(number)] = list(mark)
            made = _made(site, beat, head, store, written)
        except _Stale:
            continue
        if head.name != head.listed:
            head.listed = UNSETTLED
        version = head.generation + 1
        head.ledger.claim(made, version)
        if head.to_json() == before:
            return head, None
        for digest in sorted(written):
            put_new(env.sources, block_key(beat, digest), written[digest])
        head.generation = version
        try:
            head.etag = env.sources.put(
                key,
                head.to_json(),
                content_type="application/json",
                if_match=head.etag,
                if_none_match=head.etag is None,
            )
        except PreconditionFailed:
            continue
        for digest in sorted(old_digests - {b.digest for b in head.blocks}):
            env.sources.delete(block_key(beat, digest))
        break
    else:
        raise Retryable(f"the listing {beat.path} kept changing under us")
    return head, Claim(key, head, made, head.generation, Head.from_stored)


@dataclass
class Claim:
    """A document saved with its claims (its etag the saved one), and the files it made
    at ``version``, which the job now writes."""

    key: str
    doc: Any  # a Head or a Names, each with a ledger
    made: dict[str, bytes | None]
    version: int
    parse: Callable[[bytes, str], Any]

    @property
    def dirty(self) -> list[str]:
        return sorted(k for k in self.doc.ledger.dirty if k in self.made)


def settle(env: Env, claims: list[Claim], notes: Notes) -> None:
    """Write what the documents claim, with one note of every path first, then clear the
    claims; a claim left by a crash is written by the next job to touch its document."""
    work = [(claim, claim.dirty) for claim in claims]
    work = [(claim, keys) for claim, keys in work if keys]
    if not work:
        return
    notes.writing(sorted("/" + k for _, keys in work for k in keys))
    born: list[str] = []
    for claim, keys in work:
        created = [
            k
            for k in keys
            if ledger.write(env.site, k, claim.made[k], claim.version, notes.replacing)
            == ledger.CREATED
        ]
        doc = claim.doc
        for _ in range(ATTEMPTS):
            claims_before = dict(doc.ledger.dirty)
            doc.ledger.cleared(keys, claim.version)
            if doc.ledger.dirty == claims_before:
                break
            try:
                doc.etag = env.sources.put(
                    claim.key, doc.to_json(), content_type="application/json", if_match=doc.etag
                )
                break
            except PreconditionFailed:
                stored = env.sources.get(claim.key)
                if stored is None:
                    break
                doc = claim.parse(stored.body, stored.etag)
        # (Claims not cleared stay, and the next job writes those files again: no harm.)
        if created:
            stored = env.sources.get(claim.key)
            now = claim.parse(stored.body, stored.etag) if stored is not None else None
            gone = {k for k in created if now is not None and now.ledger.gone(k, claim.version)}
            stay = ledger.kept(env.site, created, gone, claim.version, notes.replacing)
            born += ["/" + k for k in stay]
    if born:
        notes.created(sorted(born))


def _live(site: Site | None, beat: Beat) -> bool:
    return site is not None and beat.language in site.languages


def _has_pages(site: Site | None, beat: Beat, head: Head) -> bool:
    # The corrections page says when there are none; an empty tag has no page.
    return _live(site, beat) and (bool(head.blocks) or beat.kind == "correction")


def _page_keys(beat: Beat, sizes: list[int]) -> dict[str, int]:
    """Each file of a beat, and the page it shows (the feed: 0)."""
    keys = {urls.object_key(beat.page_path(n)): n for n in page_numbers(sizes)}
    feed = feed_key(beat)
    return keys | ({feed: 0} if feed else {})


def _made(
    site: Site | None, beat: Beat, head: Head, store: _Blocks, written: dict[str, bytes]
) -> dict[str, bytes | None]:
    """The files that may differ from what the ledger holds: all of them when the site,
    the rendering code or the beat's name changed, else the first page and feed, pages
    of changed blocks, new pages, and any claimed but maybe not written; and those that
    must go."""
    old = head.ledger.maybe_existing()
    if site is None or not _has_pages(site, beat, head):
        head.name = None
        return {k: None for k in old}
    blocks = head.blocks
    sizes = [b.count for b in blocks]
    newest = store.items(blocks[-1])[-1] if blocks else None
    name = display_name(site, beat, newest)
    made_with = f"{head.site_blob}:{rendering_version()}"
    everything = head.rendered_with != made_with or name != head.name
    head.name, head.rendered_with = name, made_with
    wanted = _page_keys(beat, sizes)
    numbers = set(wanted.values())
    if not everything:
        fresh = {i + 1 for i, b in enumerate(blocks[:-1]) if b.digest in written}
        new = {n for k, n in wanted.items() if k not in head.ledger.existing()}
        left = {n for k, n in wanted.items() if k in head.ledger.dirty}
        numbers = {0} | fresh | new | left
    files: dict[str, bytes | None] = dict(
        page_files(site, beat, name, sizes, lambda i: store.items(blocks[i]), sorted(numbers))
    )
    files.update({k: None for k in old if k not in wanted})
    return files


# --- the names of every section and tag ----------------------------------------------------


@dataclass
class Names:
    """The sections or tags of one language with pages, for their index page."""

    site_blob: str | None = None
    site_sequence: int = -1
    entries: dict[str, list[Any]] = field(default_factory=dict)  # key -> [generation, name]
    version: int = 0
    ledger: Ledger = field(default_factory=Ledger)
    etag: str | None = None

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("etag")
        data["ledger"] = self.ledger.to_json()
        return _json(data)

    @classmethod
    def from_stored(cls, raw: bytes, etag: str) -> Names:
        data = json.loads(raw)
        data["ledger"] = Ledger.from_json(data.get("ledger"))
        return cls(**data, etag=etag)


def update_names(
    env: Env,
    language: str,
    kind: str,
    entries: list[tuple[str, int, str | None]],
    newest: Newest,
    site_of: Callable[[str], Site | None],
) -> Claim | None:
    """Record beats' names (each ``(key, generation, name)``; none: only re-render) and
    claim ``/<lang>/sections/`` or ``/<lang>/tags/`` if it must change to be what a full
    build would write."""
    key = names_key(language, kind)
    page = index_key(language, kind)
    for _ in range(ATTEMPTS):
        stored = env.sources.get(key)
        doc = Names.from_stored(stored.body, stored.etag) if stored else Names()
        before = doc.to_json()
        if newest.blob and newest.sequence > doc.site_sequence:
            doc.site_blob, doc.site_sequence = newest.blob, newest.sequence
        for slug, generation, name in entries:
            known = doc.entries.get(slug)
            if known is None or known[0] <= generation:
                doc.entries[slug] = [generation, name]
        site = site_of(doc.site_blob) if doc.site_blob else None
        data = None
        if site is not None and language in site.languages:
            names = {s: n for s, (_, n) in doc.entries.items() if n is not None}
            data = index_file(site, language, kind, names)
        made: dict[str, bytes | None] = {page: data}
        doc.ledger.claim(made, doc.version + 1)
        if doc.to_json() == before:
            return None
        doc.version += 1
        try:
            doc.etag = env.sources.put(
                key,
                doc.to_json(),
                content_type="application/json",
                if_match=doc.etag,
                if_none_match=doc.etag is None,
            )
            break
        except PreconditionFailed:
            continue
    else:
        raise Retryable(f"the names of /{language}/{FOLDERS[kind]}/ kept changing under us")
    return Claim(key, doc, made, doc.version, Names.from_stored)


def _mark_listed(env: Env, beat: Beat, head: Head) -> None:
    """Record that the names document lists the beat as its head names it."""
    stored = env.sources.get(head_key(beat))
    if stored is None:
        return
    now = Head.from_stored(stored.body, stored.etag)
    if now.generation != head.generation:
        return  # a later write lists it itself
    now.listed = head.name
    with contextlib.suppress(PreconditionFailed):  # likewise
        env.sources.put(
            head_key(beat), now.to_json(), content_type="application/json", if_match=now.etag
        )


# --- an issue's job ------------------------------------------------------------------------


def everywhere(languages: Iterable[str]) -> tuple[list[str], list[str]]:
    """What a changed site.yml touches besides the issue's own beats: each language's
    corrections page and its indexes of sections and tags (they exist even when empty)."""
    beats = [Beat("correction", lang, "all").ident for lang in sorted(set(languages))]
    indexes = [f"{lang}/{kind}" for lang in sorted(set(languages)) for kind in INDEXED]
    return beats, indexes


def update_beats(
    env: Env,
    number: int,
    mark: Mark,
    site: Site | None,
    doc: IssueDoc | None,
    idents: Iterable[str],
    indexes: Iterable[str],
    newest: Newest,
    notes: Notes,
) -> None:
    """Bring the beats a job named (``idents``) and the indexes it named up to date with
    issue ``number``'s items as they are now (``doc``, read with the issue's ``site``)."""
    items = items_of(site, doc) if site is not None and doc is not None else {}
    site_of = _sites(env)
    claims: list[Claim] = []
    listed: list[tuple[Beat, Head]] = []
    entries: dict[str, list[tuple[str, int, str | None]]] = {name: [] for name in indexes}
    for ident in sorted(set(idents)):
        beat = Beat.from_ident(ident)
        head, claim = update_beat(env, beat, number, mark, items.get(beat, []), newest, site_of)
        claims += [claim] if claim else []
        if beat.kind in INDEXED and head.name != head.listed:
            entry = (beat.key, head.generation, head.name)
            entries.setdefault(f"{beat.language}/{beat.kind}", []).append(entry)
            listed.append((beat, head))
    for name, changed in sorted(entries.items()):
        language, kind = name.split("/")
        names = update_names(env, language, kind, changed, newest, site_of)
        claims += [names] if names else []
    settle(env, claims, notes)
    for beat, head in listed:
        _mark_listed(env, beat, head)
