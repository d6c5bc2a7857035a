"""`make build`'s last step: trim the package and write the deployable template.

Babel carries CLDR data for some 800 locales (about 30 MB); the site needs its own
languages and the root they inherit from. The template gets its CloudFront Function
inlined and its code pointing at the package beside it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .template import template_text

KEEP_LOCALES = {"root", "en", "es"}
# Parts of Powertools no handler imports (API routing, parsers, feature flags, …): about
# 3 MB that every cold start would otherwise unpack. The build's import check proves it.
UNUSED_POWERTOOLS = (
    "event_handler",
    "utilities/parser",
    "utilities/data_masking",
    "utilities/feature_flags",
    "utilities/streaming",
    "utilities/parameters",
    "utilities/kafka",
    "utilities/auth_alpha",
    "utilities/circuit_breaker",
    "utilities/metadata",
)


def trim_babel(package: Path, languages: set[str]) -> int:
    removed = 0
    for data in (package / "babel" / "locale-data").glob("*.dat"):
        if data.stem not in KEEP_LOCALES | languages:
            data.unlink()
            removed += 1
    return removed


def trim_powertools(package: Path) -> None:
    for part in UNUSED_POWERTOOLS:
        shutil.rmtree(package / "aws_lambda_powertools" / part, ignore_errors=True)


def drop_libyaml(package: Path) -> None:
    # 2.8 MB of unstripped C: a commit validates a handful of files, and PyYAML's own
    # parser reads one front matter in about a millisecond (the reader falls back to it).
    for library in (package / "yaml").glob("_yaml*.so"):
        library.unlink()


def check_imports(package: Path) -> None:
    """Every handler imports from the package alone (C extensions built for arm64 fall
    back to pure Python on another machine, which is enough to prove nothing is missing)."""
    code = "; ".join(
        f"import broadsheet.handlers.{s}" for s in ("validate", "render", "index", "invalidate")
    )
    subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = [{str(package)!r}]; " + code],
        check=True,
        env={"AWS_DEFAULT_REGION": "us-east-1"},
    )


def main(argv: list[str]) -> int:
    package, template = Path(argv[0]), Path(argv[1])
    removed = trim_babel(package, set())
    trim_powertools(package)
    drop_libyaml(package)
    check_imports(package)
    text = (
        template_text()
        .replace("CodeUri: ../build/package", f"CodeUri: {package.name}")
        .replace("ContentUri: ../build/layer-redirects", "ContentUri: layer-redirects")
    )
    template.write_text(text)
    size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
    print(
        f"package: {size / 1e6:.1f} MB unzipped ({removed} unused Babel locales removed); "
        f"template: {template}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
