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

import datetime as dt
import hashlib
import json
import os
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from broadsheet.content.article import Article

# The modules that read, check and typeset an article: a change to any of them is a new
# version of every cached entry.
_CODE = ("reader.py", "fields.py", "article.py", "typeset.py", "site.py", "issue.py")


@cache
def code_version() -> str:
    digest = hashlib.sha256()
    package = resources.files("broadsheet.content")
    for name in _CODE:
        digest.update(package.joinpath(name).read_bytes())
    for dependency in ("PyYAML", "markdown-it-py", "mdit-py-plugins"):
        digest.update(f"{dependency}={metadata.version(dependency)}".encode())
    return digest.hexdigest()[:16]


def _encode(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "language": article.language,
        "date": article.date.isoformat(),
        "dateline": article.dateline,
        "body_line": article.body_line,
        "source_hash": article.source_hash,
        "section": article.section,
        "authors": list(article.authors),
        "summary": article.summary,
        "translation_of": article.translation_of,
        "tags": list(article.tags),
        "status": article.status,
        "publish_at": article.publish_at.isoformat() if article.publish_at else None,
        "lines": dict(article.lines),
        "body_html": article.body_html,
    }


def _decode(stored: dict[str, Any], path: str, issue: int, slug: str) -> Article:
    publish_at = stored["publish_at"]
    return Article(
        path=path,
        issue=issue,
        slug=slug,
        title=stored["title"],
        language=stored["language"],
        date=dt.date.fromisoformat(stored["date"]),
        dateline=stored["dateline"],
        body="",
        body_line=stored["body_line"],
        source_hash=stored["source_hash"],
        section=stored["section"],
        authors=tuple(stored["authors"]),
        summary=stored["summary"],
        translation_of=stored["translation_of"],
        tags=tuple(stored["tags"]),
        status=stored["status"],
        publish_at=dt.datetime.fromisoformat(publish_at) if publish_at else None,
        lines=stored["lines"],
        body_html=stored["body_html"],
    )


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
            article = _decode(stored, path, self.issue, slug)
        except (ValueError, KeyError, TypeError):
            return None
        self.used.add(source_hash)
        return article

    def put(self, article: Article) -> None:
        self.entries[article.source_hash] = _encode(article)
        self.used.add(article.source_hash)
        self.changed = True

    def save(self) -> None:
        if not self.changed and self.used == set(self.entries):
            return
        kept = {key: self.entries[key] for key in sorted(self.used)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a build running beside this one never reads half a shelf.
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(kept, ensure_ascii=False))
        partial.replace(self.path)
