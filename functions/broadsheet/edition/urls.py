"""The URLs readers and programs see, and the object keys that hold them.

Pages are folders (``/en/issues/412/slug/``) stored as ``…/index.html``; the CDN's
viewer-request function and the preview server map one to the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

API = "/api/v1"
ISSUES_INDEX = f"{API}/issues.json"
SITEMAP_INDEX = "/sitemap.xml"
SITE_SITEMAP = "/sitemaps/site.xml"
NEWS_SITEMAP = "/news-sitemap.xml"
ROBOTS = "/robots.txt"
NOT_FOUND = "/404.html"
ROOT = "/"


def home(language: str) -> str:
    return f"/{language}/"


def issue(language: str, number: int) -> str:
    return f"/{language}/issues/{number}/"


def article(language: str, number: int, slug: str) -> str:
    return f"/{language}/issues/{number}/{slug}/"


def search(language: str) -> str:
    return f"/{language}/search/"


def search_bundle(language: str) -> str:
    """Where a language's search index lives: Pagefind's files, beside its page."""
    return f"/{language}/search/pagefind/"


def archive(language: str) -> str:
    return f"/{language}/archive/"


def feed(language: str) -> str:
    return f"/{language}/feed.xml"


def photo(number: int, stem: str, digest: str) -> str:
    """Where a photograph's variants live, less their size and type: each is
    ``<this>.<width>.<ext>``, immutable (its name changes with its bytes)."""
    return f"/media/{number}/{stem}.{digest}"


def issue_index(number: int) -> str:
    return f"{API}/issues/{number}.json"


def sitemap(number: int) -> str:
    return f"/sitemaps/{number}.xml"


def object_key(path: str) -> str:
    """The stored object behind a URL path: folders hold an index.html."""
    key = path.lstrip("/")
    return key + "index.html" if key == "" or key.endswith("/") else key


def cached_path(path: str) -> str:
    """The path the CDN caches a URL path's object under: the viewer-request function
    rewrites ``/x/`` to ``/x/index.html`` before the cache is consulted."""
    return "/" + object_key(path)


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def invalidation_paths(paths: Iterable[str], *, limit: int = 200) -> list[str]:
    """The CDN paths to clear for changed URL paths, as few as stays exact enough.

    What is cleared is each object's ``cached_path``. Two or more changes inside one
    issue folder become one wildcard for that folder: a wildcard costs one path, and
    re-fetching the rest of one issue is cheap. A fingerprinted file (an asset, a
    photograph's variant, a file of a search bundle) is never replaced, since its name
    changes with its bytes, but it is withdrawn: a photograph removed, an old search
    fragment that held an article's text. Readers' caches keep those a year, so they
    are cleared too, two or more in one folder as one wildcard (the nine variants of a
    photograph, a bundle's fragments).
    """
    objects = sorted({cached_path(p) for p in paths})
    grouped: dict[str, list[str]] = {}
    result: list[str] = []
    for path in objects:
        parts = path.split("/")
        if len(parts) >= 5 and parts[2] == "issues" and parts[3].isdigit():
            grouped.setdefault("/".join(parts[:4]) + "/*", []).append(path)
        elif is_fingerprinted(path[1:]):
            grouped.setdefault(path.rsplit("/", 1)[0] + "/*", []).append(path)
        else:
            result.append(path)
    for wildcard, members in grouped.items():
        result.extend(members if len(members) == 1 else [wildcard])
    if len(result) > limit:
        return ["/*"]
    return sorted(result)


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
}


def content_type(key: str) -> str:
    dot = key.rfind(".")
    return CONTENT_TYPES.get(key[dot:], "application/octet-stream")


# Pagefind names its index files by their bytes, as the assets are named.
# (Within a block's folder; its loader, WebAssembly and entry keep their names.)
SEARCH_HASHED = re.compile(
    r"[^/]+/search/pagefind/[^/]+/(?:(?:fragment|index|filter)/|pagefind\.[^/]+\.pf_meta$)"
)


def is_fingerprinted(key: str) -> bool:
    return key.startswith(("assets/", "media/")) or bool(SEARCH_HASHED.match(key))
