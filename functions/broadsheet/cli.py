"""The ``broadsheet`` command: validate, build, serve, new-article."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from . import findings as fmt
from .archive import label, load_archive
from .article import check_slug
from .findings import Finding

DEFAULT_CONTENT = Path("content")


def content_root_of(path: Path) -> Path | None:
    """The content root holding ``path``: the nearest folder upwards with a site.yml."""
    path = path.resolve()
    for folder in [path, *path.parents]:
        if (folder / "site.yml").is_file():
            return folder
    return None


def _target_findings(paths: Sequence[str]) -> tuple[dict[Path, set[str] | None], list[Finding]]:
    """Group the requested paths by content root; None means the whole root."""
    roots: dict[Path, set[str] | None] = {}
    problems = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            problems.append(Finding(raw, 1, 1, None, "no such file or folder"))
            continue
        root = content_root_of(path if path.is_dir() else path.parent)
        if root is None:
            problems.append(
                Finding(
                    raw,
                    1,
                    1,
                    None,
                    "not inside a content folder (no site.yml in it or any folder above it)",
                )
            )
            continue
        real = path.resolve()
        if path.is_dir():
            if real == root:
                roots[root] = None
            elif roots.get(root, set()) is not None:
                files = {label(p) for p in real.rglob("*") if p.is_file()}
                roots.setdefault(root, set()).update(files)  # type: ignore[union-attr]
            continue
        relative = real.relative_to(root).parts
        ok = relative in {("site.yml",)} or (
            len(relative) == 3
            and relative[0] == "issues"
            and (relative[2] == "issue.yml" or relative[2].endswith(".md"))
        )
        if not ok:
            problems.append(
                Finding(
                    raw,
                    1,
                    1,
                    None,
                    "not an article: articles live at <content>/issues/<number>/<slug>.md",
                )
            )
            continue
        if roots.get(root, set()) is not None:
            roots.setdefault(root, set()).add(label(real))  # type: ignore[union-attr]
    return roots, problems


def cmd_validate(args: argparse.Namespace) -> int:
    targets = args.paths or [str(args.content)]
    roots, findings = _target_findings(targets)
    checked = 0
    for root, wanted in roots.items():
        archive = load_archive(root, keep_bodies=False)
        checked += archive.files_checked if wanted is None else len(wanted)
        site_label = label(root / "site.yml")
        findings.extend(
            f
            for f in archive.findings
            if wanted is None or f.path in wanted or f.path == site_label
        )
    findings.sort()
    if args.format == "json":
        sys.stdout.write(fmt.format_json(findings, checked))
    elif args.format == "github":
        sys.stdout.write(fmt.format_github(findings))
    else:
        sys.stdout.write(fmt.format_text(findings))
        if sys.stderr.isatty():
            status = "ok" if not findings else f"{len(findings)} problem(s)"
            print(f"broadsheet validate: {checked} file(s) checked, {status}", file=sys.stderr)
    return 1 if findings else 0


SKELETON = """---
title: {title}
language: {language}
date: {date}
dateline: {dateline}
# section: one of the sections in site.yml
# authors:
#   - A. Writer
# summary: at most 300 characters; the first paragraph is used when left out
# translation_of: slug-of-the-original-article
# tags: [strike, housing]
status: draft
---

Write the first paragraph here. It becomes the summary unless you set one.
"""


def cmd_new_article(args: argparse.Namespace) -> int:
    problem = check_slug(args.slug)
    if problem:
        print(f"broadsheet new-article: {problem}", file=sys.stderr)
        return 2
    folder = args.content / "issues" / str(args.issue)
    if not (folder / "issue.yml").is_file():
        print(
            f"broadsheet new-article: {label(folder / 'issue.yml')} does not exist: "
            "create the issue first",
            file=sys.stderr,
        )
        return 2
    path = folder / f"{args.slug}.md"
    if path.exists():
        print(f"broadsheet new-article: {label(path)} already exists", file=sys.stderr)
        return 2
    title = "New article" if args.language == "en" else "Artículo nuevo"
    path.write_text(
        SKELETON.format(
            title=title,
            language=args.language,
            date=dt.date.today().isoformat(),
            dateline="City (Country)",
        ),
        encoding="utf-8",
    )
    print(label(path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="broadsheet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check articles before they go live")
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="articles or folders to check (default: the whole content/)",
    )
    validate.add_argument("--format", choices=("text", "github", "json"), default="text")
    validate.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    validate.set_defaults(run=cmd_validate)

    new = commands.add_parser("new-article", help="write a valid article skeleton")
    new.add_argument("--issue", type=int, required=True)
    new.add_argument("--slug", required=True)
    new.add_argument("--language", "--lang", default="en")
    new.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    new.set_defaults(run=cmd_new_article)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
