"""`make build`'s last step: trim the package, prove it still works, write the template.

Babel carries CLDR data for some 800 locales (about 30 MB); the site needs its own
languages and the root they inherit from. Parts no handler uses go too. The template
gets its CloudFront Function inlined and its code pointing at the package beside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from broadsheet.local.template import template_text

# Babel's locale data is 35 MB: the package keeps the languages the paper is written in
# (LANGUAGES=en,es,fr make build), and site.yml naming another is a finding.
LAYERS = ("redirects", "photos")  # build/layer-<name>: what only some functions carry
KEEP_LOCALES = {"root", *os.environ.get("LANGUAGES", "en,es").replace(" ", "").split(",")}
# Parts no handler uses (Powertools' API routing, parsers, feature flags…; Babel's message
# tools; markdown-it's command line): the check below runs the handlers' code without them.
UNUSED = (
    "aws_lambda_powertools/event_handler",
    "aws_lambda_powertools/utilities/parser",
    "aws_lambda_powertools/utilities/data_masking",
    "aws_lambda_powertools/utilities/feature_flags",
    "aws_lambda_powertools/utilities/streaming",
    "aws_lambda_powertools/utilities/parameters",
    "aws_lambda_powertools/utilities/kafka",
    "aws_lambda_powertools/utilities/auth_alpha",
    "aws_lambda_powertools/utilities/circuit_breaker",
    "aws_lambda_powertools/utilities/metadata",
    "aws_lambda_powertools/metrics/provider/datadog",
    "babel/messages",
    "markdown_it/cli",
)
# boto3 ships in the package at the locked version (the runtime's own would change under
# the functions without a deploy): of botocore's 28 MB of service models, the services
# the adapters call (adapters/aws.py) and STS, which signing may ask for.
KEEP_SERVICES = {"s3", "sqs", "scheduler", "cloudfront", "cloudfront-keyvaluestore", "sts"}
# Of mdit-py-plugins the typesetter uses the footnotes alone.
KEEP_PLUGINS = {"__init__.py", "footnote", "utils.py", "py.typed"}

# Runs in a fresh interpreter with the package first on the path: every handler imports,
# and an article is checked, typeset (footnotes, Spanish dateline) and rendered.
CHECK = """
import sys, datetime as dt
sys.path[:0] = [PACKAGE]
import broadsheet.handlers.validate, broadsheet.handlers.render
import broadsheet.handlers.index, broadsheet.handlers.invalidate
from broadsheet.edition import index, pages
from broadsheet.content.article import parse_article
from broadsheet.content.findings import FindingSink
from broadsheet.content.issue import Issue
from broadsheet.content.site import Site
site = Site({"en": "Paper", "es": "Papel"}, "https://example.org", ("en", "es"))
source = (b"---\\ntitle: T\\nlanguage: es\\ndate: 2025-07-25\\ndateline: X\\n---\\n\\n"
          b"A *b*[^1].\\n\\n[^1]: c\\n")
article = parse_article("a.md", source, 1, "a", site, FindingSink("a.md"), render=True)
issue = Issue(1, dt.date(2025, 7, 25), {})
doc = index.issue_doc(site, issue, [index.entry(site, article)])
page = pages.render_article(site, doc, "a", article.body_html).decode()
assert "25 de julio" in page and "footnote" in page, page
import os, boto3, botocore
assert botocore.__file__.startswith(os.path.abspath(PACKAGE)), botocore.__file__  # the locked one
for service in KEEP_SERVICES:
    boto3.client(service, region_name="us-east-1")
"""


def trim_babel(package: Path) -> int:
    removed = 0
    for data in (package / "babel" / "locale-data").glob("*.dat"):
        if data.stem not in KEEP_LOCALES:
            data.unlink()
            removed += 1
    return removed


def trim_unused(package: Path) -> None:
    for part in UNUSED:
        shutil.rmtree(package / part, ignore_errors=True)
    for item in (package / "mdit_py_plugins").iterdir():
        if item.name in KEEP_PLUGINS:
            continue
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink()


def trim_botocore(package: Path) -> int:
    removed = 0
    for service in (package / "botocore" / "data").iterdir():
        if service.is_dir() and service.name not in KEEP_SERVICES:
            shutil.rmtree(service)
            removed += 1
    return removed


def drop_libyaml(package: Path) -> None:
    # 2.8 MB of unstripped C: a commit validates a handful of files, and PyYAML's own
    # parser reads one front matter in about a millisecond (the reader falls back to it).
    for library in (package / "yaml").glob("_yaml*.so"):
        library.unlink()


def runtime_version(template: str) -> str:
    """The Python the functions run on, from the template's ``Runtime: python3.12``."""
    match = re.search(r"Runtime: python(3\.\d+)", template)
    if match is None:
        raise SystemExit("package: no python runtime in the template")
    return match.group(1)


def compile_bytecode(package: Path, interpreter: str) -> None:
    """Compile every module ahead of time, as ``__pycache__/*.cpython-3XX.pyc``.

    /var/task is read-only in Lambda, so without shipped bytecode every cold start
    compiles Powertools, botocore's glue and our code from source again: most of a cold
    start on a small function. ``unchecked-hash`` files are used without comparing
    timestamps, which a zip does not keep reliably; the package never changes in place.
    """
    subprocess.run(
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(package),
        ],
        check=True,
    )


def runtime_interpreter(version: str) -> str | None:
    """An interpreter that writes bytecode the runtime will load: the same minor version."""
    for candidate in (
        sys.executable,
        os.environ.get("RUNTIME_PYTHON"),
        shutil.which(f"python{version}"),
    ):
        if candidate and _version_of(candidate) == version:
            return candidate
    return None


def _version_of(interpreter: str) -> str | None:
    # A name on the PATH may be a shim (pyenv's) with no interpreter behind it: ask it.
    try:
        result = subprocess.run(
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def check(package: Path) -> None:
    """C extensions built for arm64 fall back to pure Python on another machine, which is
    enough to prove that nothing the code needs was trimmed."""
    code = CHECK.replace("PACKAGE", repr(str(package))).replace(
        "KEEP_SERVICES", repr(sorted(KEEP_SERVICES))
    )
    subprocess.run(
        [sys.executable, "-I", "-B", "-c", code],
        check=True,
        env={"AWS_DEFAULT_REGION": "us-east-1"},
    )


def main(argv: list[str]) -> int:
    package, template = Path(argv[0]), Path(argv[1])
    removed = trim_babel(package)
    trim_unused(package)
    services = trim_botocore(package)
    drop_libyaml(package)
    check(package)
    version = runtime_version(template_text())
    interpreter = runtime_interpreter(version)
    if interpreter is not None:
        for folder in (package, *(package.parent / f"layer-{n}" for n in LAYERS)):
            if folder.is_dir():
                compile_bytecode(folder, interpreter)
        compiled = f"bytecode compiled by {interpreter}"
    else:
        compiled = (
            f"NO BYTECODE: no python{version} here (set RUNTIME_PYTHON), so each cold start "
            "compiles the code first"
        )
    text = template_text().replace("CodeUri: ../build/package", f"CodeUri: {package.name}")
    for name in LAYERS:
        text = text.replace(f"ContentUri: ../build/layer-{name}", f"ContentUri: layer-{name}")
    template.write_text(text)
    size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
    print(
        f"package: {size / 1e6:.2f} MB unzipped ({removed} unused Babel locales and "
        f"{services} service models removed; "
        f"{compiled}); template: {template}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
