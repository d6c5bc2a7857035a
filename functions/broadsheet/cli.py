"""The ``broadsheet`` command: validate, build, serve, new-article."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from broadsheet.build.archive import label, load_archive
from broadsheet.build.full import Progress, build_site
from broadsheet.build.serve import folder_fetcher, make_server
from broadsheet.content import findings as fmt
from broadsheet.content.article import check_slug
from broadsheet.content.findings import Finding

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


def _progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    from tqdm import tqdm

    bars: list[tqdm] = []

    def start(stage: str, total: int) -> Callable[[], object]:
        for bar in bars:
            bar.close()
        bars[:] = [tqdm(total=total, desc=f"{stage:>8}", unit=" files", leave=False)]
        return lambda: bars[0].update()

    return start


def _parse_now(value: str | None) -> dt.datetime:
    if not value:
        return dt.datetime.now(dt.UTC)
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def cmd_build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    report = build_site(
        args.content,
        args.out,
        now=_parse_now(args.now),
        cache_dir=None if args.no_cache else args.cache,
        progress=_progress(sys.stderr.isatty() and not args.quiet),
    )
    sys.stderr.write(fmt.format_text(report.findings))
    elapsed = time.perf_counter() - started
    print(
        f"broadsheet build: {report.articles} articles, {report.pages} files in "
        f"{label(args.out)}/ ({report.skipped} drafts or embargoed, {report.removed} stale "
        f"files removed, {len(report.findings)} problem(s)) in {elapsed:.2f} s",
        file=sys.stderr,
    )
    return 1 if report.findings and args.strict else 0


def cmd_serve(args: argparse.Namespace) -> int:
    if not (args.dir / "index.html").is_file():
        print(
            f"broadsheet serve: {label(args.dir)}/ holds no built site: run broadsheet build first",
            file=sys.stderr,
        )
        return 2
    try:
        server = make_server(folder_fetcher(args.dir), args.host, args.port)
    except OSError as error:
        print(f"broadsheet serve: {error}", file=sys.stderr)
        return 2
    print(
        f"Serving {label(args.dir)}/ at http://{args.host}:{args.port}/  (Ctrl-C stops)",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def _stack(args: argparse.Namespace) -> Any:
    from broadsheet.pipeline.operations import Stack

    return Stack.find(args.stack, args.endpoint_url)


def cmd_publish(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.publisher import Git, PublishError, publish

    stack = _stack(args)
    try:
        publish(Git(args.repo, args.content_dir), stack.buckets().sources)
    except PublishError as error:
        print(f"broadsheet publish: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.operations import format_status, resolve_commit, status

    stack = _stack(args)
    commit = resolve_commit(stack, args.commit)
    if commit is None:
        print(
            f"broadsheet status: no published commit matches {args.commit or 'HEAD'!r}",
            file=sys.stderr,
        )
        return 1
    found = status(stack, commit)
    if args.format == "json":
        print(json.dumps(found, indent=2))
    else:
        sys.stdout.write(format_status(found))
    return 1 if found["findings"] else 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.operations import dead_letters, replay

    stack = _stack(args)
    if args.action == "replay":
        moved = replay(stack, args.stage)
        print(f"{moved} message(s) replayed", file=sys.stderr)
        return 0
    found = dead_letters(stack, args.stage)
    for item in found:
        print(
            f"{item['stage']:<11} {item['message_id']}  commit {item['commit'][:12]}  "
            f"{item['reason']}"
        )
    if not found:
        print("the dead-letter queues are empty", file=sys.stderr)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.operations import rebuild

    count = rebuild(_stack(args))
    print(f"rebuild: {count} issue(s) sent to the render queue", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from broadsheet.local.devstack import run

    return run(args.repo, args.content_dir, args.port)


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        default=os.environ.get("BROADSHEET_STACK", "broadsheet"),
        help="CloudFormation stack name (default: $BROADSHEET_STACK or broadsheet)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="the local stack's endpoint, e.g. http://127.0.0.1:5000",
    )


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

    build = commands.add_parser("build", help="render the whole site into a folder")
    build.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    build.add_argument("--out", type=Path, default=Path("_site"))
    build.add_argument(
        "--cache",
        type=Path,
        default=Path(".broadsheet-cache"),
        help="where typeset bodies are kept between builds",
    )
    build.add_argument("--no-cache", action="store_true")
    build.add_argument("--now", help="the clock for embargoes (ISO 8601; default: now)")
    build.add_argument("--strict", action="store_true", help="exit 1 when any article has problems")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(run=cmd_build)

    serve = commands.add_parser("serve", help="preview a built folder like the CDN serves it")
    serve.add_argument("--dir", type=Path, default=Path("_site"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=cmd_serve)

    publish = commands.add_parser("publish", help="upload the commits since the last publish")
    _stack_options(publish)
    publish.add_argument("--repo", type=Path, default=Path("."))
    publish.add_argument(
        "--content-dir", default="content", help="the content folder inside the repository"
    )
    publish.set_defaults(run=cmd_publish)

    status = commands.add_parser("status", help="each stage of a published commit")
    _stack_options(status)
    status.add_argument("commit", nargs="?", help="a commit or its prefix (default: latest)")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(run=cmd_status)

    dlq = commands.add_parser("dlq", help="show or replay dead-lettered messages")
    _stack_options(dlq)
    dlq.add_argument("action", choices=("list", "replay"))
    dlq.add_argument("--stage", choices=("validate", "render", "index", "invalidate"))
    dlq.set_defaults(run=cmd_dlq)

    local = commands.add_parser("run", help="the whole stack on this machine, serving the site")
    local.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    local.add_argument("--repo", type=Path, default=Path("."))
    local.add_argument("--content-dir", default="content")
    local.set_defaults(run=cmd_run)

    rebuild = commands.add_parser("rebuild", help="re-render the whole archive in the cloud")
    _stack_options(rebuild)
    rebuild.set_defaults(run=cmd_rebuild)

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
