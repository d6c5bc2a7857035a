"""Checked articles kept by the hash of their source, so a rebuild after a template
change re-renders pages without reading YAML or parsing Markdown again.

An entry is stored only for a source that passed every check. Its key covers the exact
bytes, the site's configuration (languages and sections decide what is valid) and the
code that reads and typesets, so a hit is as good as doing the work again.

Entries live on one shelf (one file) per issue, because the build works an issue at a
time: 200 files to open for a 10,000-article archive instead of 10,000, which on a
cold build is most of what the cache costs. The Markdown itself is not kept; pages need
only its HTML.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from broadsheet.content.article import Article
from broadsheet.content.photo import Photo, digest, examine
from broadsheet.content.version import code_version
from broadsheet.edition import search


class ArticleCache:
    def __init__(self, folder: Path, site_config: bytes) -> None:
        version = hashlib.sha256(code_version().encode() + site_config).hexdigest()[:16]
        self.folder = folder / f"articles-{version}"

    def shelf(self, issue: int) -> Shelf:
        return Shelf(self.folder / f"issue-{issue}.json", issue)


class Shelf:
    """One issue's entries, read once; ``save`` keeps exactly the entries used since."""

    def __init__(self, path: Path, issue: int) -> None:
        self.path = path
        self.issue = issue
        try:
            stored = json.loads(path.read_bytes())
            self.entries: dict[str, Any] = stored if isinstance(stored, dict) else {}
        except (OSError, ValueError):
            self.entries = {}
        self.used: set[str] = set()
        self.changed = False

    def get(self, source_hash: str, path: str, slug: str) -> Article | None:
        stored = self.entries.get(source_hash)
        if stored is None:
            return None
        try:
            article = Article.from_facts(stored, path, self.issue, slug)
        except (ValueError, KeyError, TypeError):
            return None
        self.used.add(source_hash)
        return article

    def put(self, article: Article) -> None:
        self.entries[article.source_hash] = article.facts()
        self.used.add(article.source_hash)
        self.changed = True

    def photo(self, name: str, data: bytes) -> Photo:
        """A photograph examined, or what examining its bytes found before."""
        key = f"photo:{name}:{digest(data)}"
        stored = self.entries.get(key)
        if isinstance(stored, dict):
            with contextlib.suppress(TypeError, KeyError):
                self.used.add(key)
                return Photo.from_facts(stored)
        photo = examine(name, data)
        self.entries[key] = photo.facts()
        self.used.add(key)
        self.changed = True
        return photo

    def search_text(self, article: Article) -> str:
        """The words of a body for the search index, or what extracting them found before
        (parsing the HTML again was a tenth of a warm build)."""
        key = f"text:{article.source_hash}"
        stored = self.entries.get(key)
        if not isinstance(stored, str):
            stored = search.text_of(article.body_html)
            self.entries[key] = stored
            self.changed = True
        self.used.add(key)
        return stored

    def save(self) -> None:
        if not self.changed and self.used == set(self.entries):
            return
        kept = {key: self.entries[key] for key in sorted(self.used)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a build running beside this one never reads half a shelf.
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(kept, ensure_ascii=False))
        partial.replace(self.path)


class BundleCache:
    """Search bundles kept by what they were made from: the language, the block, its
    records, the code that makes them and Pagefind's binary. A build whose records did
    not change (a template edited, nothing changed at all) takes the bundle as it is
    instead of running Pagefind again, and an edit re-indexes its own block only. One
    bundle a block is kept."""

    def __init__(self, folder: Path, version: str) -> None:
        self.folder = folder
        self.version = version

    def _path(self, language: str, block: str, records: bytes) -> Path:
        made_from = f"{self.version}\0{language}\0{block}\0".encode() + records
        key = hashlib.sha256(made_from).hexdigest()
        return self.folder / f"search-{language}-{block}-{key[:24]}.json"

    def get(self, language: str, block: str, records: bytes) -> dict[str, bytes] | None:
        try:
            stored = json.loads(self._path(language, block, records).read_bytes())
            return {name: bytes.fromhex(data) for name, data in stored.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return None

    def put(self, language: str, block: str, records: bytes, files: dict[str, bytes]) -> None:
        path = self._path(language, block, records)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({name: data.hex() for name, data in files.items()}))
        partial.replace(path)
        for old in path.parent.glob(f"search-{language}-{block}-*.json"):
            if old != path:
                with contextlib.suppress(OSError):
                    old.unlink()
