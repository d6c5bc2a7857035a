"""What the CDN does for a viewer: pretty URLs, redirects, and the response headers.

The CloudFront Function in ``infra/`` applies the same rules at the edge; the preview
server applies these. Tests run both against one set of request fixtures.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from broadsheet.edition import urls

SECURITY_HEADERS = {
    # 'wasm-unsafe-eval' lets the search page compile Pagefind's WebAssembly; it allows
    # no JavaScript eval, and no script from anywhere but the site itself.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; "
        "script-src 'self' 'wasm-unsafe-eval'; font-src 'self'; connect-src 'self'; "
        "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    # The site asks for no device: no page, nor anything it embeds, may.
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    ),
}
HTML_CACHE = "public, max-age=60, s-maxage=300"
ASSET_CACHE = "public, max-age=31536000, immutable"
# The 404 page is what a reader gets for an address not published yet (an embargo about
# to lift): their browser must ask again, not keep the 404 for a minute. At the edge,
# the distribution caches errors for its ErrorCachingMinTTL, 0: S3's error response
# carries no Cache-Control, and CloudFront then caches an error for that minimum only.
NOT_FOUND_CACHE = "no-cache"


def cache_control(key: str) -> str:
    """How long readers and the edge may keep a file of the site."""
    if urls.is_fingerprinted(key):
        return ASSET_CACHE
    return NOT_FOUND_CACHE if "/" + key == urls.NOT_FOUND else HTML_CACHE


@dataclass(frozen=True)
class Route:
    """Where a request goes: an object key to serve, a place to redirect to, or a status
    to refuse it with."""

    key: str | None = None
    redirect: str | None = None
    status: int | None = None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def route(uri: str, redirects: dict[str, str] | None = None) -> Route:
    """Map a request path to an object key the way the edge function does."""
    path = uri.split("?", 1)[0].split("#", 1)[0] or "/"
    if _CONTROL.search(path):
        # A control character has no place in an address, and must never reach a header.
        return Route(status=400)
    if redirects:
        moved = redirects.get(path)
        if moved is None and path.endswith("/index.html"):  # the old page's own file
            moved = redirects.get(path.removesuffix("index.html"))
        if moved:
            return Route(redirect=moved)
    if "//" in path or "/../" in path or path.endswith("/..") or "\\" in path:
        # Never "//host": a protocol-relative Location would be an open redirect.
        normal = posixpath.normpath(re.sub(r"[/\\]+", "/", path))
        return Route(redirect=normal + ("/" if path.endswith("/") and normal != "/" else ""))
    if path.endswith("/"):
        return Route(key=path[1:] + "index.html")
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        # /en/issues/412 -> /en/issues/412/ : one address per page.
        return Route(redirect=path + "/")
    return Route(key=path[1:])
