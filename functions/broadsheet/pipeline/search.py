"""search: each language's Pagefind index, rebuilt from the issues' search records.

Index keeps, for every issue, a small document of its public articles' search records
(``search/records/<n>.json`` in the source bucket, the body's text kept by its source
blob so an unchanged article is never read again) and sends a search job when it
changed. The search stage reads those documents, not the site or the CDN, and rebuilds
a language only when its records changed. It writes in an order a reader never notices:

1. claim: the files about to be written are recorded in the language's state
   (``state/search/<lang>.json``), so a crash leaves nothing unaccounted for;
2. Pagefind's content-hashed files (new names; a file already there is left alone);
3. the loader and its WebAssembly, when Pagefind's version changed them;
4. the entry file last: until it changes, readers use the old index, whole;
5. every file of the old index that the new one does not use is tagged retired (its
   name noted in the state first), which the site bucket's lifecycle rule expires a
   day later (a reader mid-search still finds them meanwhile); then the state.

Only the fixed names (the entry, the loader) are ever invalidated. The stage runs one
invocation at a time (reserved concurrency 1), each taking a whole batch of jobs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from broadsheet.adapters.store import update
from broadsheet.content.site import Site
from broadsheet.edition import search, urls, viewer
from broadsheet.edition.index import IssueDoc
from broadsheet.edition.search import SearchRecord
from broadsheet.pipeline.env import Env

RECORDS = "search/records/"
STATE = "state/search/"
FIXED = ("pagefind.js", "pagefind-worker.js")  # and wasm.<lang>.pagefind, the entry


def records_key(number: int) -> str:
    return f"{RECORDS}{number}.json"


def state_key(language: str) -> str:
    return f"{STATE}{language}.json"


def _digest(data: bytes) -> str:
    # The MD5 S3 lists as a file's ETag: repair compares a listing with the state.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


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


@dataclass
class LanguageState:
    records: str = ""  # digest of the records the bundle was made from
    files: dict[str, str] = field(default_factory=dict)  # name -> digest, the live bundle
    writing: list[str] = field(default_factory=list)  # claimed by a build not yet done
    retired: list[str] = field(default_factory=list)  # being tagged by an unfinished build
    generation: int = 0  # one more each build: names its invalidation, never reused

    @classmethod
    def from_json(cls, raw: bytes | None) -> LanguageState:
        return cls(**json.loads(raw)) if raw else cls()

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def _documents(env: Env) -> Iterator[dict[str, Any]]:
    """Each issue's records, one document in memory at a time."""
    for key in list(env.sources.keys(RECORDS)):
        stored = env.sources.get(key)
        if stored is not None:
            records: dict[str, Any] = json.loads(stored.body)["records"]
            yield records


def records_of(env: Env, language: str) -> Iterator[SearchRecord]:
    """A language's records, read again from the documents as Pagefind's input is
    written: the archive's text is never all in memory (about 60 MB at 10,000 articles)."""
    for records in _documents(env):
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
) -> dict[str, Any]:
    """Bring each language's bundle in line with the records (a language with none left
    loses its bundle); what changed, by language. The records are read twice: once to
    see which languages changed (a digest of each record kept), once to index those.
    ``verify`` (repair) trusts no state: every language is indexed again and each file
    compared with the bucket."""
    digests: dict[str, list[str]] = {}
    for records in _documents(env):
        for record in records.values():
            record.pop("source")
            text = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
            digests.setdefault(record["language"], []).append(_digest(text))
    done: dict[str, Any] = {}
    for language in sorted(set(digests) | _with_state(env)):
        digest = _digest("".join(sorted(digests.get(language, []))).encode())
        state = LanguageState.from_json(_raw(env, state_key(language)))
        if state.records == digest and not state.writing and not verify:
            continue
        files = build(language, records_of(env, language)) if language in digests else {}
        done[language] = _publish(env, language, state, digest, files, verify=verify)
    return done


def _with_state(env: Env) -> set[str]:
    return {k.removeprefix(STATE).removesuffix(".json") for k in env.sources.keys(STATE)}


def _raw(env: Env, key: str) -> bytes | None:
    stored = env.sources.get(key)
    return stored.body if stored else None


def _publish(
    env: Env,
    language: str,
    state: LanguageState,
    digest: str,
    files: dict[str, bytes],
    *,
    verify: bool = False,
) -> dict[str, Any]:
    names = {name: _digest(data) for name, data in files.items()}
    old = set(state.files) | set(state.writing)
    # Known there and untagged: written by the last whole build and not since noted for
    # retirement by one that died (and so perhaps tagged, perhaps expired). A repair
    # knows none: it looks at each.
    live = set() if verify else set(state.files) - set(state.retired)
    # A build that died may have written any fixed name: look, not trust.
    died = bool(state.writing) or verify
    # Names claimed by a build that died stay claimed until one is recorded as done:
    # two crashes in a row must not lose the first one's files.
    state.writing = sorted(set(names) | set(state.writing))
    state.generation += 1
    _save(env, language, state)
    changed: list[str] = []
    entry = "pagefind-entry.json"
    for name in sorted(names, key=lambda n: (n == entry, _fixed(n, language), n)):
        key = search.bundle_key(language, name)
        if not _fixed(name, language) and name != entry:
            if name in live:
                continue
            # Claimed by a build that died before writing it, or tagged (maybe expired
            # since) by one that died before saying so: look before trusting the name.
            if env.site.get(key) is None:
                _put(env, key, files[name])
            else:
                env.site.retire(key, False)
            continue
        if _stale(env, key, names[name], None if died else state.files.get(name)):
            _put(env, key, files[name])
            changed.append(name)
        elif state.files.get(name) != names[name]:
            changed.append(name)  # written by the build that died, maybe never cleared
    gone = sorted(old - set(names))
    if not names:  # no article left in the language: readers stop loading it first
        gone.sort(key=lambda n: n != entry)
    retiring = {n for n in gone if not (_fixed(n, language) or n == entry)}
    if retiring - set(state.retired):
        # Said before it is done: a build that dies here leaves the names of the files
        # it may have tagged, so the next one that needs them again unties them.
        state.retired = sorted(set(state.retired) | retiring)
        _save(env, language, state)
    for name in gone:
        key = search.bundle_key(language, name)
        if name in retiring:
            # S3 will not tag what is not there: a name only claimed may never have been
            # written, one tagged by a build that died may have expired since.
            if name in live or env.site.get(key) is not None:
                env.site.retire(key)
        else:
            env.site.delete(key)
            changed.append(name)
    # Cleared before the state says done: a crash in between builds and clears again.
    paths = sorted({urls.search_bundle(language) + name for name in changed})
    if paths:
        env.cdn.invalidate(paths, reference=f"search-{language}-{state.generation}")
    # Every name outside ``files`` is looked at before use, so a whole build need keep
    # no list of what it tagged.
    state.files, state.writing, state.records, state.retired = names, [], digest, []
    _save(env, language, state)
    return {"files": len(names), "written": len(changed), "retired": len(gone)}


def _save(env: Env, language: str, state: LanguageState) -> None:
    env.sources.put(state_key(language), state.to_json(), content_type="application/json")


def _stale(env: Env, key: str, digest: str, recorded: str | None) -> bool:
    """Whether a fixed file must be written: its recorded digest is not the new one, or
    (nothing recorded to trust) what the bucket holds is missing or other."""
    if recorded is not None and recorded != digest:
        return True
    current = env.site.get(key)
    return current is None or (recorded is None and _digest(current.body) != digest)


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
