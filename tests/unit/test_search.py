"""Search: the records readers can find, the pages Pagefind reads, the bundle it makes,
and the pipeline's search stage against the full build."""

from __future__ import annotations

import contextlib
import gzip
import json
import random
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadsheet.adapters import pagefind
from broadsheet.adapters.store import MemoryStore
from broadsheet.build.full import build_site
from broadsheet.content.findings import FindingSink
from broadsheet.content.typeset import typeset as typeset_body
from broadsheet.edition import search
from broadsheet.edition.search import SearchRecord
from tests.conftest import CONTENT, NOW, real_build_bundle
from tests.unit.test_hostile import MARKDOWN

BLOCK = "en/search/pagefind/1-100/"  # where the records below are indexed


def record(i: int, language: str = "en", **changes: object) -> SearchRecord:
    rng = random.Random(i)
    words = ["rent", "strike", "madrid", "union", "dock", "port", "heat", "huelga", "<b>"]
    found = SearchRecord(
        path=f"/{language}/issues/{i % 3 + 1}/story-{i}/",
        language=language,
        title=f"Story {i} & co",
        dateline="Madrid",
        date="25 July 2025",
        published=f"2025-07-{i % 28 + 1:02d}T00:00:00Z",
        section=rng.choice(["News", "Culture", ""]),
        issue=i % 3 + 1,
        summary="A summary",
        text=" ".join(rng.choice(words) for _ in range(40)),
    )
    return SearchRecord(**{**found, **changes})  # type: ignore[typeddict-item]


def real_bundle(language: str, records: list[SearchRecord]) -> dict[str, bytes]:
    # Past the tests' memo (conftest): these hold Pagefind itself to account.
    return real_build_bundle(language, records)


def inflated(data: bytes) -> bytes:
    return gzip.decompress(data)


def test_a_body_becomes_its_words_without_markup() -> None:
    html = "<h2>Rent</h2><p>Tenants &amp; <em>unions</em></p><ul><li>one</li><li>two</li></ul>"
    assert search.text_of(html) == "Rent Tenants & unions one two"


class _Words(HTMLParser):
    """The oracle for ``search.text_of``: a real HTML parser's reading of a body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self.parts.append(" " if tag in search._BLOCKS else "")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def parsed_words(body_html: str) -> str:
    parser = _Words()
    parser.feed(body_html)
    parser.close()
    return " ".join("".join(parser.parts).split())


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=MARKDOWN, language=st.sampled_from(["en", "es"]))
def test_a_body_reads_as_an_html_parser_reads_it(body: str, language: str) -> None:
    # Whatever the typesetter writes (photographs, tables, footnotes, entities, quotes).
    typeset = typeset_body(
        body + '\n\n![A gate at dawn](media/gate.jpg "The gate")\n', 1, language, FindingSink("f")
    )
    if typeset is not None:
        assert search.text_of(typeset.html) == parsed_words(typeset.html)


def test_the_demo_and_corpus_bodies_read_as_an_html_parser_reads_them() -> None:
    from tests.conftest import CORPUS

    read = 0
    for source in sorted([*CONTENT.rglob("*.md"), *CORPUS.rglob("*.md")]):
        text = source.read_text(errors="replace")
        if text.count("---\n") < 2:
            continue
        typeset = typeset_body(text.split("---\n", 2)[2], 1, "en", FindingSink("f"))
        if typeset is not None:
            read += 1
            assert search.text_of(typeset.html) == parsed_words(typeset.html), source
    assert read >= 15


def test_the_page_pagefind_reads_escapes_what_it_holds() -> None:
    page = search.page(record(1, title='<script>alert("x")</script>', summary="a & b"))
    assert b"<script>" not in page and b"&lt;script&gt;" in page
    assert b'data-pagefind-filter="issue">2<' in page


def test_the_index_leaves_out_the_stop_words() -> None:
    # GIVEN an English and a Spanish record whose words include their stop words
    english = record(1, title="The strike in the port", text='The "dockers" of Vigo, and THE port.')
    spanish = record(2, language="es", text="La huelga de los estibadores, y él.")
    # WHEN Pagefind's pages are made THEN the indexed words have no stop word, whatever
    # its capitals or the punctuation around it
    assert search.indexed(english["text"], "en") == '"dockers" Vigo, port.'
    assert search.indexed(spanish["text"], "es") == "huelga estibadores, él."
    assert search.indexed("the of and", "fr") == "the of and"  # no list: every word
    assert "<h1>strike port</h1>" in search.page(english).decode()
    # AND the index Pagefind makes holds none of them (it indexes metadata too: a title's
    # words are the only way in)
    bundle = real_bundle("en", [english, record(3, text="port strike", title="Port")])
    words = {w[0] for n, d in bundle.items() if n.startswith("index/") for w in words_of(d)}
    assert {"docker", "vigo", "port"} <= words
    assert not words & {"of", "and", "a"}
    # AND a summary that is the lede shortened is not indexed a second time
    lede = record(4, summary="Dockers walked out…", text="Dockers walked out at dawn. More.")
    assert search.page(lede).decode().count("Dockers") == 1
    # AND the search page tells its script the same words, for the reader's query
    assert search.stop_words("es").split() == sorted(search.STOP_WORDS["es"])


def words_of(chunk: bytes) -> list[list[object]]:
    words: list[list[object]] = pagefind._decoded(chunk)[0]
    return words


def test_two_builds_of_the_same_records_are_the_same_bytes() -> None:
    records = [record(i) for i in range(60)]
    first, second = real_bundle("en", records), real_bundle("en", records)
    assert first == second
    assert {"pagefind-entry.json", "pagefind.js", "wasm.en.pagefind"} <= set(first)
    assert any(name.startswith("filter/") for name in first)
    entry = json.loads(first["pagefind-entry.json"])
    assert entry["languages"]["en"]["page_count"] == 60
    assert f"pagefind.{entry['languages']['en']['hash']}.pf_meta" in first


def test_the_bundle_holds_only_what_its_records_say() -> None:
    records = [record(i) for i in range(5)] + [record(9, text="palimpsest")]
    bundle = real_bundle("en", records[:5])
    fragments = b"".join(inflated(d) for n, d in bundle.items() if n.startswith("fragment/"))
    assert b"palimpsest" not in fragments and b"/en/issues/" in fragments
    assert b"palimpsest" in b"".join(
        inflated(d) for n, d in real_bundle("en", records).items() if n.startswith("fragment/")
    )


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    title=st.text(min_size=1, max_size=40).filter(str.strip),
    text=st.text(max_size=200),
)
def test_whatever_an_article_holds_pagefind_indexes_it(title: str, text: str) -> None:
    bundle = pagefind.build_bundle("es", [record(1, language="es", title=title, text=text)])
    assert json.loads(bundle["pagefind-entry.json"])["languages"]["es"]["page_count"] == 1


def test_the_full_build_indexes_public_articles_only(tmp_path: Path) -> None:
    build_site(CONTENT, tmp_path, now=NOW, workers=1)
    for language in ("en", "es"):
        # the demo's issues (410-412) are one block, which the language's list names
        listed = json.loads((tmp_path / search.blocks_key(language)).read_bytes())
        assert listed == {"blocks": ["401-500"]}
        folder = tmp_path / language / "search" / "pagefind" / "401-500"
        assert (folder / "pagefind-entry.json").is_file()
        text = b"".join(inflated(p.read_bytes()) for p in folder.glob("fragment/*"))
        assert b"notes-on-the-general-strike" not in text  # a draft
        assert b"heat-and-the-warehouse-floor" not in text  # under embargo
        assert b"palimpsest" not in text
        assert f"/{language}/issues/".encode() in text
        other = "es" if language == "en" else "en"
        assert f"/{other}/issues/".encode() not in text
    assert (tmp_path / "en/search/index.html").is_file()


def test_a_build_with_the_same_records_reuses_its_bundles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from broadsheet.build import full

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    cache, first, again = tmp_path / "cache", tmp_path / "first", tmp_path / "again"
    built: list[str] = []
    remembered = full.build_bundle

    def counted(language: str, records: object) -> dict[str, bytes]:
        built.append(language)
        return remembered(language, records)

    monkeypatch.setattr(full, "build_bundle", counted)
    build_site(content, first, now=NOW, cache_dir=cache, workers=1)
    assert sorted(built) == ["en", "es"]
    # GIVEN a cached build WHEN nothing a record holds changes THEN Pagefind is not run,
    # and no body is parsed again for its words (twice: the cache keeps what it used)
    parsed: list[str] = []
    monkeypatch.setattr(search, "text_of", lambda html: parsed.append(html) or "")
    built.clear()
    for _ in range(2):
        build_site(content, again, now=NOW, cache_dir=cache, workers=1)
    assert (built, parsed) == ([], [])
    monkeypatch.undo()
    monkeypatch.setattr(full, "build_bundle", counted)
    # and the bundles are the same bytes
    for path in first.rglob("pagefind/**/*"):
        if path.is_file():
            assert (again / path.relative_to(first)).read_bytes() == path.read_bytes()
    # WHEN a Spanish article's words change THEN only the Spanish bundle is made again
    story = content / "issues/412/huelga-de-alquileres-cumple-tres-meses.md"
    story.write_text(story.read_text() + "\nUna palabra nueva: zarzamora.\n")
    build_site(content, again, now=NOW, cache_dir=cache, workers=1)
    assert built == ["es"]
    # WHEN a cached bundle is damaged THEN it is made again, not served
    built.clear()
    for stored in cache.glob("search-en-*.json"):
        stored.write_text("{not json")
    build_site(content, again, now=NOW, cache_dir=cache, workers=1)
    assert built == ["en"]
    entry = "en/search/pagefind/401-500/pagefind-entry.json"
    assert (again / entry).read_bytes() == (first / entry).read_bytes()


def test_retired_files_expire_and_come_back_when_used_again() -> None:
    store = MemoryStore()
    store.put("a", b"1")
    store.retire("a")
    assert store.live() == {}
    store.retire("a", False)
    assert store.live() == {"a": b"1"}
    store.retire("a")
    store.put("a", b"2")  # a new object carries no tags
    assert store.live() == {"a": b"2"}
    with pytest.raises(KeyError):  # as S3: nothing there, nothing to tag
        store.retire("never written")


@pytest.mark.parametrize("after", [False, True])
@pytest.mark.parametrize("crash_after", range(1, 16))
@pytest.mark.parametrize("expired", [False, True])
def test_a_search_rebuild_cut_short_anywhere_leaves_a_whole_index(
    crash_after: int, after: bool, expired: bool
) -> None:
    import datetime as dt

    from broadsheet.adapters.pagefind import build_bundle
    from broadsheet.errors import NotYet
    from broadsheet.pipeline.reconcile import UNKNOWN, load_applied
    from broadsheet.pipeline.search import RECORDS, TAKE_OVER, rebuild, records_of
    from broadsheet.pipeline.world import World
    from tests.support.oracle import Crash, FaultyStore

    world = World(clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    site = FaultyStore(MemoryStore())
    world.site = site  # type: ignore[assignment]

    def records(version: int) -> None:
        found = {r["path"]: {**r, "source": "x"} for r in [record(i + version) for i in range(4)]}
        doc = {"revision": version, "commit": "c", "records": found}
        world.bucket.put(f"{RECORDS}1.json", json.dumps(doc).encode())

    records(0)
    rebuild(world, build_bundle)
    first = dict(site.live())
    records(1)
    world.cdn.invalidations.clear()
    site.countdown, site.after = crash_after, after
    with contextlib.suppress(Crash):
        rebuild(world, build_bundle)
    live = site.live()
    entry = json.loads(live[f"{BLOCK}pagefind-entry.json"])
    meta = f"{BLOCK}pagefind.{entry['languages']['en']['hash']}.pf_meta"
    assert meta in live  # whichever entry readers get, its index is there
    site.countdown = None
    if expired:  # AND a day passes: the lifecycle rule takes what the dead build tagged
        site.store.expire()
    # AND the records then go back, on, and back again (a file the cut-short build
    # retired, or claimed and never wrote, is needed again, or retired again once
    # expired) THEN each rebuild is whole
    # WHEN the next job comes: it waits while the files are in doubt (another rebuild
    # may be writing them), then mends them once it has waited longer than one may run
    records(0 if expired else 2)
    if any(
        entry == UNKNOWN for entry in load_applied(world.sources, "search/en/1-100").files.values()
    ):
        with pytest.raises(NotYet):
            rebuild(world, build_bundle)
    for version in (2, 0, 1) if expired else (0, 2, 1):
        records(version)
        rebuild(world, build_bundle, waits=TAKE_OVER)
        world.drain(stages=("invalidate",))
        expected = build_bundle("en", list(records_of(world, "en", "1-100")))  # type: ignore[arg-type]
        expected = {f"{BLOCK}{name}": data for name, data in expected.items()}
        expected[search.blocks_key("en")] = search.blocks_document(["1-100"])
        live = site.live()
        assert sorted(live) == sorted(expected), version
        assert live == expected, version
    assert first != site.live()
    # and readers' caches were told, whichever write the crash came after
    cleared = {p for paths in world.cdn.invalidations.values() for p in paths}
    assert f"/{BLOCK}pagefind-entry.json" in cleared


def test_regression_an_index_held_again_later_is_invalidated_again() -> None:
    import datetime as dt

    from broadsheet.adapters.pagefind import build_bundle
    from broadsheet.pipeline.search import RECORDS, rebuild
    from broadsheet.pipeline.world import World

    world = World(clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    def records(version: int) -> None:
        found = {r["path"]: {**r, "source": "x"} for r in [record(i + version) for i in range(4)]}
        doc = {"revision": version, "commit": "c", "records": found}
        world.bucket.put(f"{RECORDS}1.json", json.dumps(doc).encode())

    # GIVEN an index that goes from A to B, back to A, and on to B again
    for version in (0, 1, 0, 1):
        records(version)
        rebuild(world, build_bundle)
        world.drain(stages=("invalidate",))
    # THEN each write of the entry was a new invalidation: the last, the same change
    # as the second, is not answered by the second's (made before it changed back)
    entry = f"/{BLOCK}pagefind-entry.json"
    made = [r for r, paths in world.cdn.invalidations.items() if entry in paths]
    assert len(made) == 4


def test_regression_records_gone_between_the_two_readings_leave_no_bundle_not_a_failure() -> None:
    # Index writes an issue's records while search reads them: a language may lose its
    # last record between the rebuild's first reading (which languages changed) and the
    # second (what Pagefind indexes). Pagefind refuses an empty folder; that was a
    # Permanent failure, and search went stale in silence.
    import datetime as dt

    from broadsheet.adapters.pagefind import build_bundle
    from broadsheet.pipeline.reconcile import load_applied
    from broadsheet.pipeline.search import RECORDS, rebuild
    from broadsheet.pipeline.world import World

    world = World(clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    def records(*languages: str) -> None:
        found = [record(i, lang) for i, lang in enumerate(languages)]
        doc = {
            "revision": 1,
            "commit": "c",
            "records": {r["path"]: {**r, "source": "x"} for r in found},
        }
        world.bucket.put(f"{RECORDS}1.json", json.dumps(doc).encode())

    records("en", "es")
    rebuild(world, build_bundle)
    records("en", "es", "es")  # a change to index...

    def build(language: str, found: Iterable[SearchRecord]) -> dict[str, bytes]:
        if language == "es":
            records("en")  # ...and, before Pagefind reads it, the language's last goes
        return build_bundle(language, found)

    rebuild(world, build)
    # THEN the language has no bundle (as the full build has none), and its record says
    # what was indexed: nothing, so the next job finds nothing more to do
    assert not [k for k in world.site.live() if k.startswith("es/search/pagefind/")]
    assert load_applied(world.sources, "search/es/1-100").files == {}
    assert load_applied(world.sources, "search/es").files == {}
    assert rebuild(world, build_bundle) == {}


def test_a_job_re_indexes_the_blocks_of_its_issues_and_reads_nothing_else() -> None:
    import datetime as dt

    from broadsheet.adapters.pagefind import build_bundle
    from broadsheet.pipeline.search import RECORDS, indexed, rebuild
    from broadsheet.pipeline.world import World

    world = World(clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    def records(number: int, words: str = "") -> None:
        found = [
            {**record(number * 10 + i), "issue": number, "text": f"rent strike {words}"}
            for i in range(2)
        ]
        for r in found:
            r["path"] = f"/en/issues/{number}/story-{r['path'].rsplit('-', 1)[1]}"
        doc = {
            "revision": 1,
            "commit": "c",
            "records": {r["path"]: {**r, "source": "x"} for r in found},
        }
        world.bucket.put(f"{RECORDS}{number}.json", json.dumps(doc).encode())

    # GIVEN an archive of three blocks, indexed
    for number in (1, 150, 250):
        records(number)
    rebuild(world, build_bundle, issues=[1, 150, 250], version="v1")
    listed = json.loads(world.site.live()[search.blocks_key("en")])
    assert listed == {"blocks": ["201-300", "101-200", "1-100"]}
    assert indexed(world.sources) == {"en": True}
    before = dict(world.site.live())
    # WHEN one issue's records change, and its job comes
    records(250, "zarzamora")
    assert indexed(world.sources) == {"en": False}
    read: list[str] = []
    real_get = world.bucket.get

    def get(key: str) -> object:
        read.append(key)
        return real_get(key)

    world.bucket.get = get  # type: ignore[method-assign]
    done = rebuild(world, build_bundle, issues=[250], version="v1")
    world.bucket.get = real_get  # type: ignore[method-assign]
    # THEN only its block is indexed again, from its own records: no other issue's are read
    assert list(done) == ["search/en/201-300"]
    assert [k for k in read if k.startswith(RECORDS)] == [f"{RECORDS}250.json"] * 2
    after = world.site.live()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed and all(k.startswith("en/search/pagefind/201-300/") for k in changed)
    assert indexed(world.sources) == {"en": True}
    # WHEN the indexer's version changes THEN a job for one issue has every block made
    # again by the new one (the search page runs one Pagefind for all its blocks)
    done = rebuild(world, build_bundle, issues=[250], version="v2")
    assert done == {}  # the bytes are the same: nothing is written, each record says v2
    assert indexed(world.sources, "v2") == {"en": True}
    # WHEN a block's record is lost THEN the next job, for whichever issue, makes it again
    world.bucket.delete("state/applied/search/en/1-100.json")
    rebuild(world, build_bundle, issues=[250], version="v2")
    assert world.bucket.get("state/applied/search/en/1-100.json") is not None
    assert indexed(world.sources, "v2") == {"en": True}
    # WHEN a block's last records go THEN the list stops naming it before its files go
    world.bucket.delete(f"{RECORDS}150.json")
    order: list[str] = []
    real_delete, real_put = world.site.delete, world.site.put
    world.site.delete = lambda key: order.append(f"-{key}") or real_delete(key)  # type: ignore[method-assign]
    world.site.put = lambda key, data, **kw: order.append(key) or real_put(key, data, **kw)  # type: ignore[method-assign]
    rebuild(world, build_bundle, issues=[150], version="v2")
    assert order[0] == search.blocks_key("en")
    assert order[1] == "-en/search/pagefind/101-200/pagefind-entry.json"
    live = world.site.live()
    assert json.loads(live[search.blocks_key("en")]) == {"blocks": ["201-300", "1-100"]}
    assert not [k for k in live if k.startswith("en/search/pagefind/101-200/")]
    assert indexed(world.sources) == {"en": True}


@given(
    st.lists(
        st.sampled_from(["The", "the,", "(and", "Union", "İ", "i", "¿Qué", "que", "y…", "—"])
        | st.text(max_size=6),
        max_size=30,
    ),
    st.sampled_from(["en", "es", "fr"]),
)
def test_the_indexed_words_are_those_the_stop_lists_do_not_hold(words, language) -> None:
    # The remembered answers (search._stopped) say what word_key and the list say.
    text = " ".join(words)
    stop = search.STOP_WORDS.get(language, frozenset())
    expected = [w for w in text.split() if search.word_key(w) not in stop] if stop else None
    assert search.indexed(text, language) == (" ".join(expected) if stop else text)
