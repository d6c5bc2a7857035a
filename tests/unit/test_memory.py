"""Each function's MemorySize against the worst input the validator accepts, measured in
a fresh interpreter (its peak resident memory, the handler's imports included): a
function past its memory is killed by Lambda on every retry, with no reason recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from broadsheet.content import photo, typeset
from tests.unit.test_template import FUNCTIONS, TEMPLATE

# What the Python runtime and its bootstrap hold beside the handler's own process, and
# what this machine's allocator does differently: a quarter of the setting.
HEADROOM = 0.75

PEAK = """
import json, sys
from pathlib import Path
import broadsheet.handlers.{handler}
from broadsheet.content import photo
from broadsheet.content.article import parse_article
from broadsheet.content.findings import FindingSink
from broadsheet.content.site import Site
from broadsheet.edition import index, pages
from broadsheet.content.issue import Issue
import datetime as dt
work = sys.argv[1]
data = Path(sys.argv[2]).read_bytes()
if work == "examine":
    assert photo.examine("media/worst.png", data).problem is None
elif work == "variants":
    photo.variants(photo.examine("media/worst.png", data), data)
else:
    site = Site({{"en": "Paper"}}, "https://example.org", ("en",))
    sink = FindingSink("a.md")
    article = parse_article("a.md", data, 1, "a", site, sink, render=True)
    assert article is not None, sink.findings
    doc = index.issue_doc(site, Issue(1, dt.date(2025, 7, 25), {{}}), [index.entry(site, article)])
    pages.render_article(site, doc, "a", article.body_html)
# VmHWM, this process's own high-water mark: ru_maxrss carries the parent's over exec,
# and the parent is the whole test run.
[hwm] = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:")]
print(json.dumps(int(hwm.split()[1]) / 1024))
"""


def memory_of(function: str) -> int:
    setting = FUNCTIONS[function]["Properties"].get("MemorySize")
    return int(setting or TEMPLATE["Globals"]["Function"]["MemorySize"])


def peak_mb(handler: str, work: str, source: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", PEAK.format(handler=handler), work, str(source)],
        capture_output=True,
        text=True,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return float(json.loads(result.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def worst_photograph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The most pixels the validator allows, with an alpha channel (the most bytes a
    pixel decodes to), in a file of a fifth of a megabyte."""
    width, height = 8000, photo.MAX_PIXELS // 8000
    path = tmp_path_factory.mktemp("worst") / "worst.png"
    Image.new("RGBA", (width, height), (200, 30, 30, 128)).save(path, "PNG")
    return path


@pytest.fixture(scope="module")
def worst_article(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The longest body the typesetter takes, in the longest paragraphs, with a footnote
    and a table in each block of them."""
    block = ("word " * (typeset.MAX_BLOCK // 5 - 20)).strip() + "[^1]"
    body = ""
    while len(body) + len(block) + 40 < typeset.MAX_BODY - 200:
        body += block + "\n\n| a | b |\n|---|---|\n| c | d |\n\n"
    body += "[^1]: A note.\n"
    front = "---\ntitle: Long\nlanguage: en\ndate: 2025-07-25\ndateline: X\n---\n\n"
    path = tmp_path_factory.mktemp("worst") / "long.md"
    path.write_text(front + body)
    return path


def test_validate_examines_the_worst_photograph_inside_its_memory(worst_photograph: Path) -> None:
    peak = peak_mb("validate", "examine", worst_photograph)
    assert peak <= HEADROOM * memory_of("ValidateFunction"), peak


def test_render_makes_the_worst_photographs_variants_inside_its_memory(
    worst_photograph: Path,
) -> None:
    peak = peak_mb("render", "variants", worst_photograph)
    assert peak <= HEADROOM * memory_of("RenderFunction"), peak


def test_render_typesets_the_longest_article_inside_its_memory(worst_article: Path) -> None:
    peak = peak_mb("render", "article", worst_article)
    assert peak <= HEADROOM * memory_of("RenderFunction"), peak
