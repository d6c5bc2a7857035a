"""search: each language's Pagefind index, rebuilt from the issues' search records.

Index keeps, for every issue, a small document of its public articles' search records
(``search/records/<n>.json`` in the source bucket, the body's text kept by its source
blob so an unchanged article is never read again) and sends a search job when it
changed. The search stage reads those documents, not the site or the CDN, and rebuilds
a language only when its records changed.

Each language's bundle is a partition of the site like the others (``reconcile``): its
record (``state/applied/search/<lang>.json``) holds the hash of every file and the digest
of the records it was made from. It is reconciled in an order a reader never notices:

1. the files about to change are marked unknown in the record, so a crash leaves them
   to be looked at again;
2. Pagefind's content-hashed files (new names; a file already there is left alone);
3. the loader and its WebAssembly, when Pagefind's version changed them;
4. the entry file last: until it changes, readers use the old index, whole;
5. every file of the old index that the new one does not use is tagged retired, which
   the site bucket's lifecycle rule expires a day later (a reader mid-search still finds
   them meanwhile); a retired file used again is untied;
6. the fixed names that changed (the entry, the loader) and every file retired or
   deleted (an old fragment holds the text of an article since withdrawn) go to the
   invalidate stage, named by the transition (``reconcile.transition``), so a run cut
   short and done again is answered by the first, and an index held again later is a
   new transition; then the record.

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
PARTITIONS = "search/"  # a language's bundle is the partition search/<lang>
FIXED = ("pagefind.js", "pagefind-worker.js")  # and wasm.<lang>.pagefind, the entry
ENTRY = "pagefind-entry.json"
TAKE_OVER = 5  # waits of a minute: the search function's timeout (300 s) and more


def records_key(number: int) -> str:
    return f"{RECORDS}{number}.json"


def partition(language: str) -> str:
    return f"{PARTITIONS}{language}"


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


def _documents(sources: ObjectStore) -> Iterator[dict[str, Any]]:
    """Each issue's records, one document in memory at a time."""
    for key in list(sources.keys(RECORDS)):
        stored = sources.get(key)
        if stored is not None:
            records: dict[str, Any] = json.loads(stored.body)["records"]
            yield records


def records_of(env: Env, language: str) -> Iterator[SearchRecord]:
    """A language's records, read again from the documents as Pagefind's input is
    written: the archive's text is never all in memory (about 60 MB at 10,000 articles)."""
    for records in _documents(env.sources):
        for path in sorted(records):
            record = records[path]
            if record["language"] == language:
                record.pop("source")
                yield record


def rebuild(
    env: Env,
    build: Callable[[str, Iterable[SearchRecord]], dict[str, bytes]],
    *,
    verify: bool = False,
    waits: int = 0,
) -> dict[str, Any]:
    """Bring each language's bundle in line with the records (a language with none left
    loses its bundle); what changed, by language. The records are read twice: once to
    see which languages changed (a digest of each record kept), once to index those.
    ``verify`` (repair) trusts no state: every language is indexed again and each file
    compared with the bucket."""
    wanted = _wanted(env.sources)
    done: dict[str, Any] = {}
    for language in sorted(set(wanted) | _with_record(env.sources)):
        digest = wanted.get(language, NO_RECORDS)
        before = load_applied(env.sources, partition(language))
        cut_short = before.cut_short
        if cut_short and waits < TAKE_OVER:
            # Files in doubt: another rebuild is writing them, or one was cut short. The
            # job waits; once it has waited longer than a rebuild may run, the writer
            # is gone, and this one mends what it left.
            raise NotYet(f"{partition(language)}: a rebuild is under way", delay=60)
        if before.data.get("records") == digest and not cut_short and not verify:
            continue
        # The records are read again as they are indexed, and may have changed since the
        # first reading (index writes them meanwhile): the record keeps the digest of
        # those indexed, so a change the first reading missed is indexed next time.
        fed: list[str] = []
        files = build(language, _digested(records_of(env, language), fed))
        digest = _digest("".join(sorted(fed)).encode())
        done[language] = _publish(env, language, before, digest, files, verify=verify)
    return done


def _wanted(sources: ObjectStore) -> dict[str, str]:
    """Each language's digest of the records its bundle is to be made from."""
    digests: dict[str, list[str]] = {}
    for records in _documents(sources):
        for record in records.values():
            record.pop("source")
            digests.setdefault(record["language"], []).append(_record_digest(record))
    return {language: _digest("".join(sorted(d)).encode()) for language, d in digests.items()}


NO_RECORDS = _digest(b"")


def indexed(sources: ObjectStore) -> dict[str, bool]:
    """Whether each language's bundle is made from its records as they are now (False:
    a rebuild is due, under way, or was cut short). Derived, as the stage decides, from
    the records and the bundle's applied record: what status says of search."""
    wanted = _wanted(sources)
    found = {}
    for language in sorted(set(wanted) | _with_record(sources)):
        before = load_applied(sources, partition(language))
        wanted_here = wanted.get(language, NO_RECORDS)
        found[language] = not before.cut_short and before.data.get("records") == wanted_here
    return found


def _record_digest(record: SearchRecord) -> str:
    return _digest(json.dumps(record, ensure_ascii=False, sort_keys=True).encode())


def _digested(records: Iterable[SearchRecord], into: list[str]) -> Iterator[SearchRecord]:
    for record in records:
        into.append(_record_digest(record))
        yield record


def _with_record(sources: ObjectStore) -> set[str]:
    prefix = APPLIED + PARTITIONS
    return {k.removeprefix(prefix).removesuffix(".json") for k in sources.keys(prefix)}


def _publish(
    env: Env,
    language: str,
    before: Applied,
    digest: str,
    files: dict[str, bytes],
    *,
    verify: bool = False,
) -> dict[str, Any]:
    made = {search.bundle_key(language, name): data for name, data in files.items()}
    # A file of the bundle is made from its own bytes: its digest is its hash.
    wanted = {key: file_hash(data) for key, data in made.items()}
    change = diff(
        env.sources,
        partition(language),
        wanted,
        lambda keys: {k: made[k] for k in keys},
        {"records": digest},
        before,
        verify=verify,
    )
    if not (change.put or change.gone or change.after.data != before.data):
        return {"files": len(made), "written": 0, "retired": 0}
    try:
        etag = mark_unknown(env.sources, change)
    except Retryable as error:  # the record changed since it was read: another rebuild
        raise NotYet(f"{partition(language)}: another rebuild is under way", delay=60) from error
    written = []
    entry = search.bundle_key(language, ENTRY)
    # Content-hashed files first, then the loader, the entry last.
    for key in sorted(change.put, key=lambda k: (k == entry, _fixed(_name(k), language), k)):
        current = env.site.get(key)
        if current is None or current.body != made[key]:
            _put(env, key, made[key])
            written.append(key)
        elif before.hash(key) in (None, UNKNOWN[1]):
            # Not held, or marked unknown: an older build retired it, or one cut short
            # may have; it is used again, so it must not expire.
            env.site.retire(key, False)
    gone = sorted(change.gone)
    if not made:  # no article left in the language: readers stop loading it first
        gone.sort(key=lambda k: k != entry)
    retired = 0
    for key in gone:
        if env.site.get(key) is None:  # never written, or expired since it was tagged
            continue
        if _fixed(_name(key), language) or key == entry:
            env.site.delete(key)
        else:
            env.site.retire(key)
            retired += 1
    # The fixed names whose bytes changed (or may have, after a build cut short), and
    # every file withdrawn, are cleared before the record says done: a crash in between
    # builds and clears again. A reader's cache keeps a content-hashed file a year, and
    # an old fragment holds the text of an article since deleted or corrected.
    fixed = [k for k in change.put if _fixed(_name(k), language) or k == entry]
    paths = sorted(
        {"/" + k for k in fixed if before.hash(k) != change.after.hash(k)}
        | {"/" + k for k in change.gone}
    )
    if paths:
        changes = {p: str(change.after.hash(p[1:]) or "") for p in paths}
        named = transition(partition(language), before.runs, changes)
        job = InvalidateJob([f"search-{language}"], [named], paths)
        env.queue("invalidate").send(job.to_json())
    save_record(env.sources, change, etag)
    return {"files": len(made), "written": len(written), "retired": retired}


def _name(key: str) -> str:
    return key.rsplit("/", 1)[1]


def _fixed(name: str, language: str) -> bool:
    return name in FIXED or name == f"wasm.{language}.pagefind"


def _put(env: Env, key: str, data: bytes) -> None:
    fixed = not urls.is_fingerprinted(key)
    env.site.put(
        key,
        data,
        content_type=urls.content_type(key),
        cache_control=viewer.HTML_CACHE if fixed else viewer.ASSET_CACHE,
    )
