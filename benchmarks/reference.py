"""The issue's yardstick on our own corpus: a plain markdown-it-py + Jinja2 loop.

The targets were set against a "comparable" corpus on which such a loop took about
11 s. Running the same kind of loop over the generated archive tells how heavy this
corpus is by that measure, so the build's figures can be read against the targets.
One process, no checks, no indexes: YAML front matter, Markdown to HTML, one template.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jinja2
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.footnote import footnote_plugin

# libyaml's loader where PyYAML has it, as a tool that reads front matter would use: the
# pure-Python one alone costs a millisecond per article, ten times as much.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PAGE = """<!doctype html>
<html lang="{{ meta.language }}"><head><meta charset="utf-8">
<title>{{ meta.title }}</title><meta name="description" content="{{ meta.summary }}">
</head><body><main><h1>{{ meta.title }}</h1>
<p class="dateline">{{ meta.dateline }}, {{ meta.date }}</p>
{{ body|safe }}
</main></body></html>
"""


def plain_loop(content: Path, out: Path) -> float:
    started = time.perf_counter()
    md = MarkdownIt("commonmark", {"typographer": True}).enable(["table", "smartquotes"])
    md.use(footnote_plugin)
    template = jinja2.Environment(autoescape=True).from_string(PAGE)
    for source in sorted(content.glob("issues/*/*.md")):
        _, front, body = source.read_text().split("---\n", 2)
        meta = yaml.load(front, Loader=LOADER)
        page = out / source.parent.name / source.stem / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(template.render(meta=meta, body=md.render(body)))
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"{plain_loop(Path(sys.argv[1]), Path(sys.argv[2])):.2f}")
