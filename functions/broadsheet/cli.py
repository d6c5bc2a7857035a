"""broadsheet: publish a workers' newspaper from git (``broadsheet --help`` lists the
commands, each described once, where it is defined)."""

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

from broadsheet import __version__
from broadsheet.adapters.aws import STAGES
from broadsheet.build.archive import label, load_archive
from broadsheet.content import findings as fmt
from broadsheet.content.article import check_slug
from broadsheet.content.findings import Finding, FindingSink
from broadsheet.content.issue import misplaced
from broadsheet.content.site import parse_site
from broadsheet.errors import CommandError

# Every default, once.
CONTENT = Path("content")
OUT = Path("_site")
CACHE = Path(".broadsheet-cache")
HOST = "127.0.0.1"
PORT = 8000
STACK = "broadsheet"


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
            stray = misplaced("/".join(relative))
            problems.append(
                Finding(
                    raw,
                    1,
                    1,
                    None,
                    stray[1]
                    if stray
                    else "not an article: articles live at <content>/issues/<number>/<slug>.md",
                )
            )
            continue
        if roots.get(root, set()) is not None:
            roots.setdefault(root, set()).add(label(real))  # type: ignore[union-attr]
    return roots, problems


def cmd_validate(args: argparse.Namespace) -> int:
    if not args.paths and not args.content.is_dir():
        raise CommandError(f"{label(args.content)}/ is not a folder: give --content", 2)
    if not args.paths and not (args.content / "site.yml").is_file():
        raise CommandError(
            f"{label(args.content)}/ is not a content folder (it holds no site.yml): give "
            "--content the folder with site.yml and issues/",
            2,
        )
    targets = args.paths or [str(args.content)]
    roots, findings = _target_findings(targets)
    checked = 0
    for root, wanted in roots.items():
        archive = load_archive(root, keep_bodies=False, now=dt.datetime.now(dt.UTC))
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
        failing = len(fmt.errors(findings))
        status = f"{failing} problem(s)" if failing else "no problems"
        if len(findings) > failing:
            status += f", {len(findings) - failing} warning(s)"
        print(f"broadsheet validate: {checked} file(s) checked, {status}", file=sys.stderr)
    return 1 if fmt.errors(findings) else 0


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
TITLES = {"en": "New article", "es": "Artículo nuevo"}


def cmd_new_article(args: argparse.Namespace) -> int:
    problem = check_slug(args.slug)
    if problem:
        raise CommandError(problem, 2)
    site_file = args.content / "site.yml"
    sink = FindingSink(label(site_file))
    site = parse_site(site_file.read_bytes(), sink) if site_file.is_file() else None
    if site is None:
        raise CommandError(
            f"{label(site_file)} is missing or has problems: run broadsheet validate", 2
        )
    language = args.language or site.default_language
    if language not in site.languages:
        raise CommandError(
            f"--language {language}: not a language of this site ({', '.join(site.languages)})", 2
        )
    folder = args.content / "issues" / str(args.issue)
    if not (folder / "issue.yml").is_file():
        raise CommandError(
            f"{label(folder / 'issue.yml')} does not exist: create the issue first", 2
        )
    path = folder / f"{args.slug}.md"
    if path.exists():
        raise CommandError(f"{label(path)} already exists", 2)
    path.write_text(
        SKELETON.format(
            title=TITLES.get(language, TITLES["en"]),
            language=language,
            date=dt.date.today().isoformat(),
            dateline="City (Country)",
        ),
        encoding="utf-8",
    )
    print(label(path))
    return 0


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    bars: list[Any] = []

    def start(stage: str, total: int) -> Callable[[], object]:
        for bar in bars:
            bar.close()
        bars[:] = [tqdm(total=total, desc=f"{stage:>8}", unit=" files", leave=False)]
        return lambda: bars[0].update()

    return start


def _moment(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 date-time, e.g. 2030-08-01T06:00:00Z"
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _seconds(text: str) -> float:
    """A wait, as argparse reads one: a number of seconds from 0 to a day."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 86400")
    return seconds


def port(text: str) -> int:
    """A TCP port, as argparse reads one: 1 to 65535, or a usage error."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1 to 65535)")
    return number


def writable_folder(out: Path) -> None:
    """Make ``out`` (and its parents) or say in one line why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot make {label(out)}/: {error.strerror}: give --out", 2) from error
    if not os.access(out, os.W_OK | os.X_OK):
        raise CommandError(f"{label(out)}/ is not writable: give --out", 2)


def cmd_build(args: argparse.Namespace) -> int:
    from broadsheet.build.full import build_site

    if not args.content.is_dir():
        raise CommandError(f"{label(args.content)}/ is not a folder: give --content", 2)
    writable_folder(args.out)
    started = time.perf_counter()
    report = build_site(
        args.content,
        args.out,
        now=args.now or dt.datetime.now(dt.UTC),
        cache_dir=None if args.no_cache else args.cache,
        progress=_progress(sys.stderr.isatty() and not args.quiet),
        search_index=not args.no_search,
    )
    sys.stderr.write(fmt.format_text(report.findings))
    elapsed = time.perf_counter() - started
    print(
        f"broadsheet build: {report.articles} articles, {report.pages} files in "
        f"{label(args.out)}/ ({report.skipped} drafts or embargoed, {report.removed} stale "
        f"files removed, {len(fmt.errors(report.findings))} problem(s)) in {elapsed:.2f} s",
        file=sys.stderr,
    )
    if report.findings and report.pages == 0:
        print("broadsheet build: nothing could be built", file=sys.stderr)
        return 1
    return 1 if fmt.errors(report.findings) and args.strict else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from broadsheet.build.serve import folder_fetcher, make_server

    if not (args.out / "index.html").is_file():
        raise CommandError(f"{label(args.out)}/ holds no built site: run broadsheet build first", 2)
    table, source = _preview_redirects(args.content, args.out)
    try:
        server = make_server(
            folder_fetcher(args.out), args.host, args.port, redirects=lambda: table
        )
    except OSError as error:
        raise CommandError(str(error), 2) from error
    print(
        f"Serving {label(args.out)}/ at http://{args.host}:{args.port}/  (Ctrl-C stops); "
        f"{len(table)} redirect(s) {source}",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def _preview_redirects(content: Path, out: Path) -> tuple[dict[str, str], str]:
    """The redirects the site would answer for the built folder: the renames in the
    content's git history, where each leads now. None when the content is not in git."""
    from broadsheet.edition import index
    from broadsheet.pipeline.publisher import Git, renames_before
    from broadsheet.pipeline.renames import table_from_history

    try:
        git = Git.of(content)
        history = renames_before(git, git.head())
    except (CommandError, OSError):
        return {}, f"(no renames: {label(content)}/ is not in a git repository)"
    docs = [index.loads(p.read_bytes()) for p in sorted((out / "api/v1/issues").glob("*.json"))]
    renamed = [(r.old_path, r.path, r.url) for r in history]
    return table_from_history(renamed, docs), f"from the renames in git under {label(content)}/"


def _stack(args: argparse.Namespace) -> Any:
    from broadsheet.adapters.aws import AwsEnv

    if args.endpoint_url:
        loopback_account(args.endpoint_url)
    env = AwsEnv.find(args.stack, args.endpoint_url)
    if args.endpoint_url:  # perhaps the local stack, which keeps what moto could not
        import boto3

        from broadsheet.local.devstack import recorded_outputs

        recorded = recorded_outputs(boto3.session.Session(), args.endpoint_url, args.stack)
        env.settings.update(AwsEnv.from_outputs(recorded).settings)
    return env


def loopback_account(endpoint_url: str) -> None:
    """The local stack's region and keys, for a command pointed at it (an endpoint on
    this machine) where the environment names none; a real endpoint keeps AWS's rules."""
    from urllib.parse import urlsplit

    from broadsheet.local.devstack import LOCAL_ACCOUNT

    if urlsplit(endpoint_url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        return
    if not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
        os.environ["AWS_DEFAULT_REGION"] = LOCAL_ACCOUNT["AWS_DEFAULT_REGION"]
    if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
        os.environ["AWS_ACCESS_KEY_ID"] = LOCAL_ACCOUNT["AWS_ACCESS_KEY_ID"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = LOCAL_ACCOUNT["AWS_SECRET_ACCESS_KEY"]


def cmd_publish(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.publisher import Git, publish
    from broadsheet.pipeline.release import release

    git = Git.of(args.content)
    stack = _stack(args)
    # A manifest of another release would wait in the dead-letter queue: refuse it
    # here, where the person who can mend it is looking.
    deployed = stack.settings.get("BROADSHEET_RELEASE")
    if deployed != release():
        stated = deployed or "(none stated: deployed before releases were)"
        raise CommandError(
            f"the stack runs Broadsheet release {stated}, "
            f"this publisher is release {release()}: install the commit that was deployed "
            "(the content workflow's BROADSHEET_REF), or deploy this one"
        )
    publish(git, stack.sources, snapshot=args.snapshot)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.operations import (
        format_github,
        format_status,
        pending_releases,
        resolve_commit,
        settled,
        status,
    )
    from broadsheet.pipeline.search import indexed

    stack = _stack(args)
    deadline = time.monotonic() + (args.wait or 0)
    while True:
        commit = resolve_commit(stack.sources, args.commit)
        found = status(stack.sources, commit) if commit else None
        # A dropped message is an answer too: that part will never be done.
        if (found and (settled(found) or found["dropped"])) or time.monotonic() >= deadline:
            break
        time.sleep(2)
    if commit is None or found is None:
        raise CommandError(f"no published commit matches {args.commit or 'HEAD'!r}")
    found["search"] = indexed(stack.sources)  # the whole site's: read once, when done
    if args.format == "github":  # CI's check: the publish role reads no schedules
        sys.stdout.write(format_github(found))
        sys.stdout.write(format_status(found))
    elif args.format == "json":
        print(json.dumps({**found, "releases": pending_releases(stack)}, indent=2))
    else:
        sys.stdout.write(format_status(found))
        for release in pending_releases(stack):
            print(
                f"clock       issue {release['issue']} {release['slug']}: "
                f"{release['what']} at {release['at']}"
            )
    if found["dropped"]:
        print("broadsheet status: a stage dropped part of this commit", file=sys.stderr)
        return 1
    if args.wait and not settled(found):
        print(f"broadsheet status: still under way after {args.wait:g} s", file=sys.stderr)
        return 3
    return 1 if fmt.errors(Finding(**f) for f in found["findings"]) else 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.operations import dead_letters, dropped, replay

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
    # Dropped messages never reach a queue: kept 90 days, they cannot be replayed (they
    # can never apply as they are); publish again once the cause is mended.
    lost = [d for d in dropped(stack.sources) if args.stage in (None, d["stage"])]
    for item in lost:
        print(
            f"{item['stage']:<11} {item['message_id']}  commit {str(item['commit'])[:12]}  "
            f"dropped {item['at'][:19]}Z: {item['error']}"
        )
    if lost:
        print(f"{len(lost)} message(s) dropped as never applicable", file=sys.stderr)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.operations import rebuild

    commit, count = rebuild(_stack(args))
    print(f"rebuild: {count} issue(s) sent to the validate queue", file=sys.stderr)
    if count:
        print(f"follow it with: broadsheet status {commit}", file=sys.stderr)
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    from broadsheet.pipeline.repair import repair, report

    found = repair(_stack(args), dry_run=args.dry_run)
    sys.stdout.write(report(found))
    if found.differences and not args.dry_run:
        print(
            "repair: mending sent on (the rebuilt issues and search indexes follow in the "
            "queues; `broadsheet repair --dry-run` again to see them done)",
            file=sys.stderr,
        )
    # 1 when the bucket differed: a script (or a person) knows something was wrong.
    return 1 if found.differences else 0


def cmd_run(args: argparse.Namespace) -> int:
    from broadsheet.local.devstack import run

    return run(args.content, args.port)


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown (a default of None or False says nothing: the help says what
    happens then), and descriptions kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def _content(parser: argparse.ArgumentParser, what: str = "the content folder") -> None:
    parser.add_argument("--content", type=Path, default=CONTENT, help=what)


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        default=os.environ.get("BROADSHEET_STACK", STACK),
        help="the CloudFormation stack (environment: BROADSHEET_STACK)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="an endpoint other than AWS's, e.g. the local stack's, which `make run` prints "
        "(environment: AWS_ENDPOINT_URL)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broadsheet", usage="%(prog)s [-h] [--version] COMMAND ...", formatter_class=_Help
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # The commands are listed once, in the description, by who runs them.
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS
    )
    listed: list[tuple[str, str]] = []

    def command(name: str, summary: str, run: Callable[[argparse.Namespace], int]) -> Any:
        sub = commands.add_parser(
            name, prog=f"broadsheet {name}", description=summary, formatter_class=_Help
        )
        sub.set_defaults(run=run)
        listed.append((name, summary))
        return sub

    validate = command("validate", "check articles before they go live", cmd_validate)
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="articles or folders to check (default: the whole content folder)",
    )
    _content(validate)
    validate.add_argument(
        "--format",
        choices=("text", "github", "json"),
        default="text",
        help="one line per problem, GitHub Actions annotations, or a JSON report",
    )

    build = command("build", "render the whole site into a folder", cmd_build)
    _content(build)
    build.add_argument("--out", type=Path, default=OUT, help="the site folder to write")
    build.add_argument(
        "--cache", type=Path, default=CACHE, help="where checked articles are kept between builds"
    )
    build.add_argument("--no-cache", action="store_true", help="check and typeset everything")
    build.add_argument(
        "--no-search",
        action="store_true",
        help="skip the search index (Pagefind): a quicker preview whose search finds nothing",
    )
    build.add_argument(
        "--now",
        type=_moment,
        default=None,
        help="the clock for embargoes, ISO 8601 (default: now)",
    )
    build.add_argument("--strict", action="store_true", help="exit 1 when any article has problems")
    build.add_argument("--quiet", action="store_true", help="no progress bar")

    serve = command("serve", "preview a built folder as the CDN serves it", cmd_serve)
    serve.add_argument("--out", type=Path, default=OUT, help="the site folder to serve")
    _content(serve, "the content folder, whose renames in git become redirects")
    serve.add_argument("--host", default=HOST, help="the address to listen on")
    serve.add_argument("--port", type=port, default=PORT, help="the port to listen on")

    new = command("new-article", "write a valid article skeleton (a draft)", cmd_new_article)
    _content(new)
    new.add_argument("--issue", type=int, required=True, help="the issue's number")
    new.add_argument("--slug", required=True, help="the file name, without .md")
    new.add_argument(
        "--language",
        default=None,
        help="a language of site.yml (default: its first)",
    )

    local = command("run", "the whole stack on this machine, publishing each new commit", cmd_run)
    _content(local, "the content folder, inside a git repository")
    local.add_argument(
        "--port",
        type=port,
        default=int(os.environ.get("PORT", PORT)),
        help="the site's port (environment: PORT)",
    )

    publish = command("publish", "upload the commits since the last publish", cmd_publish)
    _stack_options(publish)
    _content(publish, "the content folder, inside a git repository")
    publish.add_argument(
        "--snapshot",
        action="store_true",
        help="publish HEAD as a whole, whatever was published before (after history was rewritten)",
    )

    status = command(
        "status",
        "what each stage did with a commit, a rebuild or a release (pages withdrawn, "
        "versions kept, findings), whether each language's search index holds the records "
        "as they are, and the clocks waiting",
        cmd_status,
    )
    _stack_options(status)
    status.add_argument(
        "commit",
        nargs="?",
        help="a commit or its prefix, or a rebuild's or release's id (default: the last published)",
    )
    status.add_argument(
        "--format",
        choices=("text", "github", "json"),
        default="text",
        help="how to print it (github: annotations for a CI check, then the text)",
    )
    status.add_argument(
        "--wait",
        type=_seconds,
        metavar="SECONDS",
        help="wait up to SECONDS for every stage to finish the commit (exit 3 if not)",
    )

    dlq = command("dlq", "show or replay dead-lettered messages", cmd_dlq)
    _stack_options(dlq)
    dlq.add_argument("action", choices=("list", "replay"), help="look, or send them back")
    dlq.add_argument(
        "--stage", choices=(*STAGES, "release"), help="one stage's queue (default: all)"
    )

    rebuild = command(
        "rebuild",
        "check, typeset and render the whole archive again (after a deploy); prints the id "
        "`status` follows it by",
        cmd_rebuild,
    )
    _stack_options(rebuild)

    repair = command(
        "repair",
        "compare the site bucket with what its records say it holds, and mend it",
        cmd_repair,
    )
    _stack_options(repair)
    repair.add_argument(
        "--dry-run", action="store_true", help="only say what differs; change nothing"
    )
    lines = ["broadsheet: publish a workers' newspaper from git.", ""]
    for heading, names in GROUPS:
        lines += [heading] + [f"  {n:<13} {summary}" for n, summary in listed if n in names]
        lines.append("")
    parser.description = "\n".join(lines).rstrip()
    return parser


GROUPS = (
    ("For editors and anyone with a clone:", {"validate", "build", "serve", "new-article", "run"}),
    (
        "For maintainers, against a deployed stack (or the local one, with --endpoint-url):",
        {"publish", "status", "dlq", "rebuild", "repair"},
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # here, where a closed pipe can still be answered
        return code
    except CommandError as error:
        print(f"broadsheet {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `broadsheet status | head`: the reader has what it wanted. Python would report
        # the pipe again when it flushes stdout at exit, so stdout goes to devnull; the
        # status is a shell's for a pipe closed under it (128 + SIGPIPE), as git's.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
