"""search: each language's Pagefind index, in blocks of issues, rebuilt from the issues'
search records.

Index keeps, for every issue, a small document of its public articles' search records
(``search/records/<n>.json`` in the source bucket, the body's text kept by its source
blob so an unchanged article is never read again) and sends a search job naming the
issue when they changed. The search stage reads those documents, not the site or the
CDN.

A language's index is cut into blocks of issues (``edition.search.block_of``), each a
whole Pagefind bundle under ``/<lang>/search/pagefind/<block>/`` and a partition of
the site like the others (``reconcile``): its record
(``state/applied/search/<lang>/<block>.json``) holds the hash of every file and the
digest of the records it was made from. A job re-indexes only the blocks of the issues
it names, reading only their documents: a commit's search work grows with a block, not
with the archive. A language's list of blocks (``blocks.json``, the partition
``search/<lang>``) tells the search page which bundles to merge.

A block is reconciled in an order a reader never notices:

1. the files about to change are marked unknown in the record, so a crash leaves them
   to be looked at again;
2. Pagefind's content-hashed files (new names; a file already there is left alone);
3. the loader and its WebAssembly, when Pagefind's version changed them;
4. the entry file last: until it changes, readers use the block's old index, whole;
5. every file of the old index that the new one does not use is tagged retired, which
   the site bucket's lifecycle rule expires a day later (a reader mid-search still finds
   them meanwhile); a retired file used again is untied;
6. the fixed names that changed (the entry, the loader) and every file retired or
   deleted (an old fragment holds the text of an article since withdrawn) go to the
   invalidate stage, named by the transition (``reconcile.transition``), so a run cut
   short and done again is answered by the first, and an index held again later is a
   new transition; then the record.

The list is reconciled after the blocks that have records and before those left
without any, so it never names a block that is not whole.

Each invocation takes a whole batch of jobs; at most two run at once (the event source's
maximum concurrency). A rebuild that finds its record changed under it when it comes to
mark its files (another rebuild got there first) waits and runs again later, from the
records as they are then.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from broadsheet.adapters.store import ObjectStore, update
from broadsheet.content.site import Site
from broadsheet.edition import search, urls, viewer
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.search import SearchRecord
from broadsheet.errors import NotYet, Retryable
from broadsheet.pipeline.env import Env
from broadsheet.pipeline.messages import InvalidateJob
from broadsheet.pipeline.reconcile import (
    APPLIED,
    UNKNOWN,
    Applied,
    diff,
    file_hash,
    load_applied,
    mark_unknown,
    save_record,
    transition,
)

RECORDS = "search/records/"
PARTITIONS = "search/"  # search/<lang>/<block>: a block's bundle; search/<lang>: the list
ENTRY = "pagefind-entry.json"
TAKE_OVER = 5  # waits of a minute: the search function's timeout (300 s) and more


def records_key(number: int) -> str:
    return f"{RECORDS}{number}.json"


def partition(language: str, block: str | None = None) -> str:
    return f"{PARTITIONS}{language}" + (f"/{block}" if block else "")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


# --- index's side: the records of one issue ------------------------------------------------


def update_records(
    env: Env,
    number: int,
    revision: int,
    commit: str,
    site: Site | None,
    doc: IssueDoc | None,
    sources: Mapping[str, str],
    body: Callable[[str], str],
) -> bool:
    """Make the issue's records match its public document at ``revision``; whether the
    search index needs a rebuild for it (also when this very job wrote them before a
    crash, so the search job that follows is never lost). ``sources``: slug → the key of
    its typeset body, which names the text's source; ``body(slug)`` reads one."""

    def change(raw: bytes | None) -> bytes | None:
        old: dict[str, Any] = (
            json.loads(raw) if raw else {"revision": -1, "commit": "", "records": {}}
        )
        if old["revision"] > revision:
            return None  # a newer revision wrote them: its own job follows
        records: dict[str, Any] = {}
        if site is not None and doc is not None:
            texts = {r["source"]: r["text"] for r in old["records"].values()}
            for entry in doc["articles"]:
                source = sources[entry["slug"]]
                text = texts.get(source)
                if text is None:
                    text = search.text_of(body(entry["slug"]))
                [record] = search.records(site, _alone(doc, entry), {entry["slug"]: ""})
                records[entry["path"]] = {**record, "text": text, "source": source}
        if old["revision"] == revision and records == old["records"]:
            return None
        made = {"revision": revision, "commit": commit, "records": records}
        return json.dumps(made, ensure_ascii=False, sort_keys=True).encode()

    final = update(env.sources, records_key(number), change)
    return final is not None and json.loads(final)["commit"] == commit


def _alone(doc: IssueDoc, entry: Any) -> IssueDoc:
    alone: IssueDoc = {**doc, "articles": [entry]}
    return alone


# --- the stage -----------------------------------------------------------------------------


Bundle = Callable[[str, Iterable[SearchRecord]], dict[str, bytes]]
Part = tuple[str, str]  # (language, block)


def _numbers(sources: ObjectStore) -> list[int]:
    """The issues that have records (a listing: no document is read)."""
    keys = sources.keys(RECORDS)
    return sorted(int(k.removeprefix(RECORDS).removesuffix(".json")) for k in keys)


def _documents(
    sources: ObjectStore, numbers: Iterable[int]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of each issue named, one document in memory at a time."""
    for number in numbers:
        stored = sources.get(records_key(number))
        if stored is not None:
            records: dict[str, Any] = json.loads(stored.body)["records"]
            yield number, records


def records_of(env: Env, language: str, block: str) -> Iterator[SearchRecord]:
    """A block's records in one language, read again from the documents as Pagefind's
    input is written: a block's text is never all in memory."""
    numbers = [n for n in _numbers(env.sources) if search.block_of(n) == block]
    for _, records in _documents(env.sources, numbers):
        for path in sorted(records):
            record = records[path]
            if record["language"] == language:
                record.pop("source")
                yield record


def rebuild(
    env: Env,
    build: Bundle,
    *,
    issues: Iterable[int] | None = None,
    version: str = "",
    verify: bool = False,
    waits: int = 0,
) -> dict[str, Any]:
    """Bring the blocks of ``issues`` (their records changed; None: every issue) in line
    with their records, then each language's list of blocks; what changed, by partition.

    A block is looked at when a job names one of its issues, when it has records and no
    record of a bundle, when its record is in
    doubt (a rebuild cut short), or when it was made by another ``version`` of the
    indexer (every block is made again then: the search page runs one Pagefind for
    all). ``verify`` (repair) trusts no state: every block is indexed again and each
    file compared with the bucket. Order, for readers: the blocks that have records;
    then the lists, which name only blocks whose bundle is whole; then the blocks left
    without records, which no list names any longer."""
    numbers = _numbers(env.sources)
    held = {part: load_applied(env.sources, partition(*part)) for part in _with_record(env.sources)}
    if issues is None or verify:
        looked = {search.block_of(n) for n in numbers} | {b for _, b in held}
    else:
        looked = {search.block_of(n) for n in issues}
        looked |= {b for (_, b), record in held.items() if _stale(record, version)}
        # and a block with records and no bundle at all: new, or its record lost (or an
        # index made before the blocks, whose one bundle the list's partition retires)
        looked |= {search.block_of(n) for n in numbers} - {b for _, b in held}
    wanted = _wanted(env.sources, [n for n in numbers if search.block_of(n) in looked])
    parts = sorted(set(wanted) | {p for p in held if p[1] in looked}, key=_order)
    done: dict[str, Any] = {}
    filled = [p for p in parts if p in wanted]
    emptied = [p for p in parts if p not in wanted]
    for part in filled:
        before = held.get(part, Applied())
        _wait_for_writer(part, before, waits)
        data = {"records": wanted[part], "version": version}
        if before.data == data and not before.cut_short and not verify:
            continue
        # The records are read again as they are indexed, and may have changed since the
        # first reading (index writes them meanwhile): the record keeps the digest of
        # those indexed, so a change the first reading missed is indexed next time.
        fed: list[str] = []
        files = build(part[0], _digested(records_of(env, *part), fed))
        data["records"] = _digest("".join(sorted(fed)).encode())
        made = {search.bundle_key(*part, name): body for name, body in files.items()}
        done[partition(*part)] = _publish(env, partition(*part), before, data, made, verify)
        held[part] = load_applied(env.sources, partition(*part))
    for language in sorted({lang for lang, _ in held} | {lang for lang, _ in wanted}):
        whole = [
            b
            for (lang, b), record in held.items()
            if lang == language and (lang, b) not in emptied and _whole(record)
        ]
        before = load_applied(env.sources, partition(language))
        _wait_for_writer((language, ""), before, waits)
        made = {search.blocks_key(language): search.blocks_document(whole)} if whole else {}
        done[partition(language)] = _publish(env, partition(language), before, {}, made, verify)
    for part in emptied:
        before = held[part]
        _wait_for_writer(part, before, waits)
        done[partition(*part)] = _publish(env, partition(*part), before, {}, {}, verify)
    return {k: v for k, v in done.items() if v["written"] or v["retired"] or verify}


def _order(part: Part) -> tuple[str, int]:
    return part[0], int(part[1].split("-")[0])


def _stale(record: Applied, version: str) -> bool:
    return record.cut_short or record.data.get("version", version) != version


def _whole(record: Applied) -> bool:
    """Whether a block's bundle is there for readers: its entry written and not in doubt."""
    return bool(record.files) and not record.cut_short


def _wait_for_writer(part: Part, before: Applied, waits: int) -> None:
    if before.cut_short and waits < TAKE_OVER:
        # Files in doubt: another rebuild is writing them, or one was cut short. The
        # job waits; once it has waited longer than a rebuild may run, the writer is
        # gone, and this one mends what it left.
        raise NotYet(f"{partition(*part)}: a rebuild is under way", delay=60)


def _wanted(sources: ObjectStore, numbers: Iterable[int]) -> dict[Part, str]:
    """Each block's digest of the records its bundle is to be made from."""
    digests: dict[Part, list[str]] = {}
    for number, records in _documents(sources, numbers):
        for record in records.values():
            record.pop("source")
            part = (record["language"], search.block_of(number))
            digests.setdefault(part, []).append(_record_digest(record))
    return {part: _digest("".join(sorted(d)).encode()) for part, d in digests.items()}


def indexed(sources: ObjectStore, version: str | None = None) -> dict[str, bool]:
    """Whether each language's blocks are made from its records as they are now, and its
    list names them all (False: a rebuild is due, under way, or was cut short). Derived,
    as the stage decides, from the records and the applied records: what status says of
    search. ``version``: the indexer's, when it is known (the search function's)."""
    wanted = _wanted(sources, _numbers(sources))
    held = {part: load_applied(sources, partition(*part)) for part in _with_record(sources)}
    found: dict[str, bool] = {}
    for part in sorted(set(wanted) | set(held)):
        record = held.get(part, Applied())
        made = record.data.get("records", NO_RECORDS) if record.files else NO_RECORDS
        ok = not record.cut_short and made == wanted.get(part, NO_RECORDS)
        if version is not None and record.files:
            ok = ok and record.data.get("version") == version
        found[part[0]] = found.get(part[0], True) and ok
    for language in found:
        listed = load_applied(sources, partition(language))
        blocks = sorted(b for (lang, b) in wanted if lang == language)
        key = search.blocks_key(language)
        expect = file_hash(search.blocks_document(blocks)) if blocks else None
        found[language] = found[language] and not listed.cut_short and listed.hash(key) == expect
    return found


NO_RECORDS = _digest(b"")


def _record_digest(record: SearchRecord) -> str:
    return _digest(json.dumps(record, ensure_ascii=False, sort_keys=True).encode())


def _digested(records: Iterable[SearchRecord], into: list[str]) -> Iterator[SearchRecord]:
    for record in records:
        into.append(_record_digest(record))
        yield record


def _with_record(sources: ObjectStore) -> set[Part]:
    """The blocks that have an applied record."""
    prefix = APPLIED + PARTITIONS
    found = set()
    for key in sources.keys(prefix):
        name = key.removeprefix(prefix).removesuffix(".json")
        if "/" in name:
            language, block = name.split("/", 1)
            found.add((language, block))
    return found


def _publish(
    env: Env,
    part: str,
    before: Applied,
    data: dict[str, Any],
    made: dict[str, bytes],
    verify: bool = False,
) -> dict[str, Any]:
    """Reconcile one partition of search (a block's bundle, or a language's list) to
    ``made``, its files by site key."""
    # A file of the bundle is made from its own bytes: its digest is its hash.
    wanted = {key: file_hash(body) for key, body in made.items()}
    change = diff(
        env.sources,
        part,
        wanted,
        lambda keys: {k: made[k] for k in keys},
        data,
        before,
        verify=verify,
    )
    if not (change.put or change.gone or change.after.data != before.data):
        return {"files": len(made), "written": 0, "retired": 0}
    try:
        etag = mark_unknown(env.sources, change)
    except Retryable as error:  # the record changed since it was read: another rebuild
        raise NotYet(f"{part}: another rebuild is under way", delay=60) from error
    written = []
    # Content-hashed files first, then the loader, the entry last.
    for key in sorted(change.put, key=lambda k: (_name(k) == ENTRY, _fixed(k), k)):
        current = env.site.get(key)
        if current is None or current.body != made[key]:
            _put(env, key, made[key])
            written.append(key)
        elif before.hash(key) in (None, UNKNOWN[1]):
            # Not held, or marked unknown: an older build retired it, or one cut short
            # may have; it is used again, so it must not expire.
            env.site.retire(key, False)
    gone = sorted(change.gone)
    if not made:  # no article left in the block: readers stop loading it first
        gone.sort(key=lambda k: _name(k) != ENTRY)
    retired = 0
    for key in gone:
        if env.site.get(key) is None:  # never written, or expired since it was tagged
            continue
        if _fixed(key):
            env.site.delete(key)
        else:
            env.site.retire(key)
            retired += 1
    # The fixed names whose bytes changed (or may have, after a build cut short), and
    # every file withdrawn, are cleared before the record says done: a crash in between
    # builds and clears again. A reader's cache keeps a content-hashed file a year, and
    # an old fragment holds the text of an article since deleted or corrected.
    fixed = [k for k in change.put if _fixed(k)]
    paths = sorted(
        {"/" + k for k in fixed if before.hash(k) != change.after.hash(k)}
        | {"/" + k for k in change.gone}
    )
    if paths:
        changes = {p: str(change.after.hash(p[1:]) or "") for p in paths}
        named = transition(part, before.runs, changes)
        job = InvalidateJob([part.replace("/", "-")], [named], paths)
        env.queue("invalidate").send(job.to_json())
    save_record(env.sources, change, etag)
    return {"files": len(made), "written": len(written), "retired": retired}


def _name(key: str) -> str:
    return key.rsplit("/", 1)[1]


def _fixed(key: str) -> bool:
    """A file whose name stays when its bytes change: readers' caches keep it briefly."""
    return not urls.is_fingerprinted(key)


def _put(env: Env, key: str, data: bytes) -> None:
    fixed = _fixed(key)
    env.site.put(
        key,
        data,
        content_type=urls.content_type(key),
        cache_control=viewer.HTML_CACHE if fixed else viewer.ASSET_CACHE,
    )
