"""What the CDN does for a viewer: pretty URLs, redirects, and the response headers.

The CloudFront Function in ``infra/`` applies the same rules at the edge; the preview
server applies these. Tests run both against one set of request fixtures.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

SECURITY_HEADERS = {
    # 'wasm-unsafe-eval' lets the search page compile Pagefind's WebAssembly; it allows
    # no JavaScript eval, and no script from anywhere but the site itself.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' https:; style-src 'self'; "
        "script-src 'self' 'wasm-unsafe-eval'; font-src 'self'; connect-src 'self'; "
        "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
HTML_CACHE = "public, max-age=60, s-maxage=300"
ASSET_CACHE = "public, max-age=31536000, immutable"


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
    if redirects and path in redirects:
        return Route(redirect=redirects[path])
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
