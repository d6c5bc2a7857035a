"""Pagefind, the search index builder: its binary run on the pages ``edition.search``
writes for it, one language at a time, its output made reproducible.

One language per run keeps the peak memory to that language's share of the archive
(about 650 MB for 5,000 articles, against 1.3 GB for both at once), and a reader's
search page loads only its own language's index. The Python package's own service
client answers one request per 100 ms, so it is not used: the command line indexes a
folder at the speed of its threads.

Pagefind writes its filter files in a hash map's order, different on every run, and
names them (and the metadata file naming them, and the entry naming that) by their
bytes. So two builds of the same records differ, and the cloud could never be the full
build byte for byte (DESIGN invariant 9). ``_reproducible`` sorts each filter's values
and renames the three files by their new bytes; nothing else in the bundle varies.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from broadsheet.edition.search import SearchRecord, page, page_key
from broadsheet.errors import Permanent

# What a reader's browser needs of the bundle; the ready-made interfaces are left out,
# since the search page has its own (and its own CSP).
SHIPPED = ("pagefind.js", "pagefind-worker.js", "pagefind-entry.json")
ENTRY = "pagefind-entry.json"
KINDS = (".pf_meta", ".pf_index", ".pf_fragment", ".pf_filter", ".pagefind")


def executable() -> str:
    found = os.environ.get("PAGEFIND_BINARY_PATH")
    if found:
        return found
    try:
        from pagefind_bin import get_executable  # type: ignore[import-untyped]
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise Permanent(
            "the pagefind binary is not installed (pip install 'pagefind[bin]')"
        ) from error
    return str(get_executable())


@cache
def bundle_version() -> str:
    """What a bundle is made by: this module, the pages it indexes, and the binary."""
    digest = hashlib.sha256()
    for module in (__name__, "broadsheet.edition.search"):
        source = sys.modules[module].__file__
        digest.update(Path(source).read_bytes() if source else module.encode())
    with open(executable(), "rb") as binary:
        digest.update(hashlib.file_digest(binary, "sha256").digest())
    return digest.hexdigest()[:16]


def scratch_folder() -> str | None:
    """Where Pagefind's input pages go: a memory file system when the machine has one
    (a block is 2,500 pages in folders of their own; on this machine's disk, creating and
    removing them took a second, against 0.1 s in memory, and Pagefind reads them
    faster), else the temporary folder (Lambda has no /dev/shm)."""
    shared = "/dev/shm"
    return shared if os.path.isdir(shared) and os.access(shared, os.W_OK | os.X_OK) else None


def build_bundle(language: str, found: Iterable[SearchRecord]) -> dict[str, bytes]:
    """The search bundle of one language: file name (relative to the bundle) → bytes.
    Content-hashed names for the index, the same names for the loader and its entry.
    The records are written out as they come (Pagefind reads a folder), so an iterator
    keeps the archive's text out of memory."""
    with tempfile.TemporaryDirectory(prefix="broadsheet-search-", dir=scratch_folder()) as scratch:
        site, out = Path(scratch, "site"), Path(scratch, "out")
        written = 0
        for record in found:
            target = site / page_key(record)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(page(record))
            written += 1
        if not written:  # nothing to find: no bundle (Pagefind refuses an empty folder)
            return {}
        site.mkdir(exist_ok=True)
        result = subprocess.run(
            [
                executable(),
                "--site",
                str(site),
                "--output-path",
                str(out),
                "--force-language",
                language,
                "--silent",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise Permanent(f"pagefind failed for {language}: {result.stderr.strip()[-500:]}")
        files = {}
        for path in sorted(out.rglob("*")):
            name = path.relative_to(out).as_posix()
            if path.is_file() and (name in SHIPPED or name.endswith(KINDS)):
                if name.startswith("wasm.") and name != f"wasm.{language}.pagefind":
                    continue
                files[name] = path.read_bytes()
        return _reproducible(language, files)


SIGNATURE = b"pagefind_dcd"  # what every compressed Pagefind file starts with, inflated


def _decoded(data: bytes) -> Any:
    import cbor2

    raw = gzip.decompress(data)
    if not raw.startswith(SIGNATURE):
        raise Permanent("pagefind wrote a file this version of Broadsheet cannot read")
    return cbor2.loads(raw[len(SIGNATURE) :])


def _encoded(value: Any) -> bytes:
    import cbor2

    return gzip.compress(SIGNATURE + cbor2.dumps(value), compresslevel=9, mtime=0)


def _short(data: bytes, length: int) -> str:
    return hashlib.sha256(data).hexdigest()[:length]


def _reproducible(language: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The same bundle whatever order Pagefind's hash maps gave: filters sorted, and
    the filter files, the metadata and the entry renamed to match."""
    entry = json.loads(files[ENTRY])
    old_meta = entry["languages"][language]["hash"]
    meta = _decoded(files.pop(f"pagefind.{old_meta}.pf_meta"))
    renamed = {}
    for name in [n for n in files if n.startswith("filter/")]:
        filter_name, values = _decoded(files.pop(name))
        data = _encoded([filter_name, sorted(values, key=lambda v: v[0])])
        new = f"{language}_{_short(data, 7)}"
        renamed[name.removeprefix("filter/").removesuffix(".pf_filter")] = new
        files[f"filter/{new}.pf_filter"] = data
    # The metadata's fourth part lists [filter name, file hash]: rename, then sort.
    meta[3] = sorted([name, renamed[digest]] for name, digest in meta[3])
    data = _encoded(meta)
    new_meta = f"{language}_{_short(data, 10)}"
    files[f"pagefind.{new_meta}.pf_meta"] = data
    entry["languages"][language]["hash"] = new_meta
    files[ENTRY] = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
    return dict(sorted(files.items()))
