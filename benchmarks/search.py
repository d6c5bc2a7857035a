"""The search index at archive scale: what a rebuild costs, and what a reader downloads.

The generated archive's articles draw on about a hundred words a language, far fewer
than a newspaper uses, and Pagefind's index grows with the vocabulary. So the index is
measured twice: on the archive's own records, and on the same records with their text
redrawn from a 40,000-word vocabulary with a Zipf distribution (about what ten years of
a newspaper hold), its most frequent words the language's function words. Each language
is built in a fresh process (as the search function does, one language at a time),
whose children's CPU and peak memory are Pagefind's.

Run as ``python -m benchmarks.search records.json language`` it is that process.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from broadsheet.edition.search import SearchRecord


def records_of(content: Path) -> list[SearchRecord]:
    """Every public article's search record, as the full build makes them."""
    from broadsheet.build import full

    found: list[SearchRecord] = []

    def keep(language: str, records: list[SearchRecord]) -> dict[str, bytes]:
        found.extend(records)
        return {}

    real = full.build_bundle
    full.build_bundle = keep  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory(prefix="broadsheet-search-") as out:
            full.build_site(content, Path(out), cache_dir=None)
    finally:
        full.build_bundle = real  # type: ignore[assignment]
    return found


def rich(records: list[SearchRecord], vocabulary: int = 40_000) -> list[SearchRecord]:
    """The same records, their text redrawn from a large vocabulary, Zipf-distributed,
    whose most frequent words are the language's function words, as in real text (the
    hundred most frequent words of English make up about half of what is written)."""
    from broadsheet.edition.search import STOP_WORDS

    rng = random.Random(412)
    letters = "abcdefghijklmnopqrstuvwxyzáéíóúñ"
    words = sorted({"".join(rng.choices(letters, k=rng.randint(3, 11))) for _ in range(vocabulary)})
    rng.shuffle(words)
    heads = {language: sorted(stop) for language, stop in STOP_WORDS.items()}
    for head in heads.values():
        rng.shuffle(head)

    def word(language: str) -> str:
        vocabulary = heads.get(language, []) + words
        return vocabulary[min(int(rng.paretovariate(0.9)) - 1, len(vocabulary) - 1)]

    return [
        SearchRecord(  # type: ignore[typeddict-item]
            **{
                **r,
                "text": " ".join(word(r["language"]) for _ in range(len(r["text"].split()))),
            }
        )
        for r in records
    ]


def build_one(records_file: Path, language: str, out: Path) -> dict[str, Any]:
    """In a fresh process: one language's bundle, and what Pagefind spent on it."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.search", str(records_file), language, str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def index_figures(records: list[SearchRecord], folder: Path) -> dict[str, Any]:
    records_file = folder / "records.jsonl"  # read a line at a time, as the stage streams
    with records_file.open("w") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    languages = sorted({r["language"] for r in records})
    per = {lang: build_one(records_file, lang, folder / "site") for lang in languages}
    return {
        "articles": len(records),
        "by_language": per,
        "cpu_s_total": round(sum(p["cpu_s"] for p in per.values()), 1),
        "peak_mb_max": max(p["peak_mb"] for p in per.values()),
        "disk_mb_total": round(sum(p["disk_mb"] for p in per.values()), 1),
    }


def reader_bytes(site: Path, language: str, queries: list[str]) -> list[dict[str, Any]]:
    """What Chromium downloads for each query, each on a freshly opened search page."""
    from playwright.sync_api import sync_playwright
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    from broadsheet.build.serve import folder_fetcher, make_server

    server = make_server(folder_fetcher(site), "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    measured = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for query in queries:
                context = browser.new_context()  # an empty cache: a reader's first search
                page = context.new_page()
                loaded: list[tuple[str, int]] = []  # as CloudFront sends them, in order
                page.on("response", lambda r, into=loaded: into.append((r.url, _sent(r))))
                page.goto(f"{base}/{language}/search/", wait_until="networkidle")
                page.wait_for_selector("form.search:not([hidden])")
                opened = len(loaded)
                page.fill("#q", query)
                page.press("#q", "Enter")
                page.locator(".status:not(:empty)").wait_for()
                page.wait_for_load_state("networkidle")
                status = page.inner_text(".status")
                context.close()
                asked = loaded[opened:]
                measured.append(
                    {
                        "query": query,
                        "status": status,
                        # Everything from opening the search page (the page, its style and
                        # script, Pagefind's loader, WebAssembly and metadata) to the
                        # results shown, compressed as CloudFront would send it.
                        "kb_total": round(sum(n for _, n in loaded) / 1024, 1),
                        "kb_for_the_query": round(sum(n for _, n in asked) / 1024, 1),
                        "kb_index_chunks": round(
                            sum(n for url, n in asked if url.endswith(".pf_index")) / 1024, 1
                        ),
                        "requests_for_the_query": len(asked),
                    }
                )
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return measured


# What CloudFront compresses (its list includes these); Pagefind's index files are
# gzip already and go as they are.
COMPRESSED = ("text/", "application/json", "application/javascript", "application/xml")


def _sent(response: Any) -> int:
    import gzip

    body = response.body()
    kind = response.headers.get("content-type", "")
    return len(gzip.compress(body)) if kind.startswith(COMPRESSED) else len(body)


BANDS = {  # how many of the language's articles hold a word: a reader's query's words
    "rare": (2, 1 / 500),  # a name, a place
    "typical": (1 / 500, 1 / 50),  # what a reader remembers of an article: its subject
    "common": (1 / 50, 1 / 5),
    "everywhere": (1 / 5, 1.01),  # all a small vocabulary has
}


def query_set(records: list[SearchRecord], per_band: int = 3) -> dict[str, list[str]]:
    """Two words of one article, both in the band, from articles spread over the archive:
    the same queries every run on the same archive."""
    from collections import Counter

    frequency = Counter(w for r in records for w in set(r["text"].lower().split()))
    count = len(records)
    chosen: dict[str, list[str]] = {}
    for band, (low, high) in BANDS.items():
        least = low if isinstance(low, int) else max(2, int(low * count))
        most = int(high * count)
        found: list[str] = []
        for record in records[:: max(1, count // 97)]:
            words = [w for w in dict.fromkeys(record["text"].lower().split()) if w.isalpha()]
            telling = [w for w in words if least <= frequency[w] < most]
            if len(telling) >= 2:
                found.append(f"{telling[0]} {telling[1]}")
            if len(found) == per_band:
                break
        chosen[band] = found  # a small vocabulary has no rare words: an empty band
    return chosen


def chunk_sizes(site: Path, language: str) -> dict[str, float]:
    """Pagefind's word-index chunks: a query loads the one holding each of its words."""
    sizes = sorted(
        p.stat().st_size for p in (site / language / "search/pagefind/index").glob("*.pf_index")
    )
    return {
        "chunks": len(sizes),
        "median_kb": round(sizes[len(sizes) // 2] / 1024, 1),
        "max_kb": round(sizes[-1] / 1024, 1),
    }


def page_bytes(site: Path, language: str) -> float:
    """The loader, its WebAssembly, the entry and metadata: what opening the search page
    costs before any query (gzip as stored; CloudFront serves them so). The filters'
    files come only when a reader opens the menus."""
    folder = site / language / "search" / "pagefind"
    first = [
        "pagefind.js",
        "pagefind-worker.js",
        f"wasm.{language}.pagefind",
        "pagefind-entry.json",
    ]
    size = sum((folder / name).stat().st_size for name in first if (folder / name).exists())
    size += sum(p.stat().st_size for p in folder.glob("*.pf_meta"))
    return round(size / 1024, 1)


def bench_search(content: Path, folder: Path) -> dict[str, Any]:
    from broadsheet.content.findings import FindingSink
    from broadsheet.content.site import parse_site
    from broadsheet.edition.plan import site_files

    records = records_of(content)
    figures: dict[str, Any] = {}
    for name, chosen in (("generated_archive", records), ("rich_vocabulary", rich(records))):
        work = folder / name
        work.mkdir(parents=True, exist_ok=True)
        figures[name] = index_figures(chosen, work)
        site = work / "site"
        parsed = parse_site((content / "site.yml").read_bytes(), FindingSink("site.yml"))
        assert parsed is not None
        for path, data in site_files(parsed).items():
            target = site / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        bands = query_set([r for r in chosen if r["language"] == "en"])
        figures[name]["open_page_kb"] = page_bytes(site, "en")
        figures[name]["index_chunks"] = chunk_sizes(site, "en")
        readers = {
            band: reader_bytes(site, "en", queries) for band, queries in bands.items() if queries
        }
        figures[name]["reader_by_band"] = {
            band: {
                "median_kb_total": statistics.median(q["kb_total"] for q in measured),
                "max_kb_total": max(q["kb_total"] for q in measured),
                "queries": measured,
            }
            for band, measured in readers.items()
        }
    return figures


def _main() -> None:
    from broadsheet.adapters.pagefind import build_bundle
    from broadsheet.edition import search

    records_file, language, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    count = 0

    def records() -> Any:
        nonlocal count
        with records_file.open() as lines:
            for line in lines:
                record = json.loads(line)
                if record["language"] == language:
                    count += 1
                    yield record

    started = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    files = build_bundle(language, records())
    wall = time.perf_counter() - wall
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (
        children.ru_utime
        + children.ru_stime
        + mine.ru_utime
        - started.ru_utime
        + mine.ru_stime
        - started.ru_stime
    )
    for name, data in files.items():
        target = out / search.bundle_key(language, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    print(
        json.dumps(
            {
                "articles": count,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                # Peaks (ru_maxrss, kilobytes on Linux): Pagefind's, and this Python's
                # with the records; their sum bounds what the function holds at once.
                "pagefind_peak_mb": round(children.ru_maxrss / 1024),
                "python_peak_mb": round(mine.ru_maxrss / 1024),
                "peak_mb": round((children.ru_maxrss + mine.ru_maxrss) / 1024),
                "disk_mb": round(sum(len(d) for d in files.values()) / 1e6, 1),
                "files": len(files),
            }
        )
    )


if __name__ == "__main__":
    _main()
