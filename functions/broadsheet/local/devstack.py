"""The local stack: the real template in moto on loopback, the real handlers in this
process, and a local CDN in front of the site bucket. ``make run`` and the end-to-end
tests both stand it up through ``deploy_local``."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import importlib
import io
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from broadsheet.adapters.aws import STAGES, AwsEnv
from broadsheet.adapters.queue import schedule_target
from broadsheet.adapters.redirects import ObjectRedirects
from broadsheet.adapters.scheduler import Release, fire_due
from broadsheet.content.findings import printable
from broadsheet.errors import CommandError
from broadsheet.local.eventsource import FunctionMapping, LocalEventSource
from broadsheet.local.stack import Deployed, Resolver, deploy
from broadsheet.local.template import code_zip, parse, template_text, transform
from broadsheet.pipeline.messages import NOT_COMMITS, ReleaseJob, job_from_json
from broadsheet.pipeline.operations import (
    WHAT,
    changed,
    cleared,
    dead_letters,
    finding_line,
    format_status,
    pending_releases,
    settled,
    status,
    withdrawn,
)
from broadsheet.pipeline.publisher import Git, history_rewritten, publish, read_head
from broadsheet.pipeline.search import indexed

REPORTS = "reports/"

REGION = "us-east-1"
# moto accepts any key; what the local stack and the commands pointed at it sign with,
# so that neither needs an AWS configuration on the machine.
LOCAL_ACCOUNT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
}
# The terminal report says what an editor needs; CloudWatch metric lines and handler logs
# would bury it. Set over each function's environment from the template, and in this
# process for the commands it runs.
QUIET = {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"}
STACK = "broadsheet"
PARAMETERS = {
    "GitHubRepository": "local/broadsheet-content",
    "CreateGitHubOidcProvider": "true",
    "AlarmEmail": "maintainer@example.org",  # moto sends no mail
}
ARTIFACTS = "broadsheet-artifacts"
# Side by side, the event source polls each time an invocation ends or a quarter second
# passes: a first publish of a large archive is tens of thousands of such rounds.
DRAIN_ROUNDS = 1_000_000
STAGE_ORDER = tuple(stage.capitalize() for stage in STAGES)


def _memory(logical: str, setting: int) -> int:
    """A function's MemorySize, or less where BROADSHEET_MEMORY_MB says (``render=300``,
    comma-separated): a rehearsal of a function killed past its memory."""
    for part in filter(None, os.environ.get("BROADSHEET_MEMORY_MB", "").split(",")):
        stage, _, megabytes = part.partition("=")
        if logical == f"{stage.strip().capitalize()}Function":
            return min(setting, int(megabytes))
    return setting


def deploy_local(session: Any, endpoint_url: str | None = None) -> tuple[Deployed, Resolver]:
    """Package the code, transform the template and deploy it into moto."""
    s3 = session.client("s3", region_name=REGION, endpoint_url=endpoint_url)
    s3.create_bucket(Bucket=ARTIFACTS)
    package = Path(importlib.import_module("broadsheet").__file__ or "").parent
    s3.put_object(Bucket=ARTIFACTS, Key="package.zip", Body=code_zip(package))
    iam = session.client("iam", region_name=REGION, endpoint_url=endpoint_url)
    template = transform(
        parse(template_text()), PARAMETERS, "s3://broadsheet-artifacts/package.zip", iam
    )
    deployed, resolver = deploy(template, STACK, PARAMETERS, session, REGION, endpoint_url)
    # moto's stack cannot hold the outputs of what it skipped (the schedule group, the
    # redirect store): they are kept beside the code so commands run against this
    # endpoint find them (``recorded_outputs``).
    s3.put_object(Bucket=ARTIFACTS, Key=f"outputs/{STACK}.json", Body=json.dumps(deployed.outputs))
    return deployed, resolver


def recorded_outputs(session: Any, endpoint_url: str | None, stack: str) -> dict[str, str]:
    """The outputs ``deploy_local`` resolved itself, or none if it deployed no such stack."""
    s3 = session.client("s3", region_name=REGION, endpoint_url=endpoint_url)
    try:
        body = s3.get_object(Bucket=ARTIFACTS, Key=f"outputs/{stack}.json")["Body"].read()
    except s3.exceptions.ClientError:
        return {}
    return {str(k): str(v) for k, v in json.loads(body).items()}


def event_source(
    deployed: Deployed,
    resolver: Resolver,
    sqs: Any,
    *,
    side_by_side: bool = False,
    overrides: dict[str, str] | None = None,
) -> LocalEventSource:
    """The template's own event source mappings, each to its function's real handler:
    called in this process, or ``side_by_side`` in execution environments of their own
    (moto then must be a server); ``overrides`` set over each function's environment."""
    arns = {
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]: url
        for url in sqs.list_queues().get("QueueUrls", [])
    }
    mappings = []
    for function in deployed.functions(resolver):
        module, name = function["handler"].rsplit(".", 1)
        handler = getattr(importlib.import_module(module), name)
        environment = dict(function["environment"])
        # moto has CloudFront's key value store but not its data plane: locally the index
        # keeps redirects in the source bucket, where the local CDN reads them.
        environment.pop("REDIRECT_STORE_ARN", None)
        environment.update(overrides or {})
        mappings.append(
            FunctionMapping(
                function["logical"],  # RenderFunction: the template's name, said in reports
                arns[function["queue_arn"]],
                handler,
                environment,
                function["batch_size"],
                window=function["window"],
                concurrency=function["concurrency"],
                reserved=function["reserved"],
                entry=function["handler"],
                memory=_memory(function["logical"], function["memory"]),
                timeout=function["timeout"],
            )
        )
    mappings.sort(key=lambda m: next(i for i, s in enumerate(STAGE_ORDER) if s in m.name))
    return LocalEventSource(sqs, mappings, side_by_side=side_by_side)


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` of 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalStack:
    """Everything ``broadsheet run`` keeps running."""

    deployed: Deployed
    runner: LocalEventSource
    session: Any
    endpoint_url: str
    git: Git
    lock: threading.Lock
    branch: str | None = None  # the branch last published from (None: not yet, or detached)
    announced: set[str] = field(default_factory=set)  # commits the terminal reported on

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION, endpoint_url=self.endpoint_url)

    @cached_property
    def env(self) -> AwsEnv:
        return AwsEnv.from_outputs(self.deployed.outputs, self.endpoint_url)

    def publish(self, say: Callable[[str], object] = print) -> list[str]:
        """Publish the commits since the last publish, and run them through the stages.
        An editor who amends or rebases sees HEAD published whole, as a snapshot: the
        local stack follows the branch, whatever happened to it."""
        with self.lock:
            head, _ = read_head(self.env.sources)
            snapshot = history_rewritten(self.git, head)
            branch = self.git.branch()
            moved = head is not None and branch != self.branch
            now_on = f"branch {branch}" if branch else "a detached HEAD"
            was = f" (was {self.branch})" if self.branch else ""
            if snapshot and moved:
                say(f"{now_on} checked out{was}: publishing its HEAD whole")
            elif snapshot:
                say("history rewritten (an amend, a rebase, a reset): publishing HEAD whole")
            elif moved:
                say(f"{now_on} checked out{was}: publishing its commits since the last")
            self.branch = branch
            commits = publish(self.git, self.env.sources, snapshot=snapshot, say=lambda _: None)
            if commits:
                self.drain()
            return commits

    def drain(self) -> int:
        """Run every queue's messages through, as the event source mappings would; the
        records handled. (Held under ``lock`` by the caller.)"""
        return self.runner.drain(rounds=DRAIN_ROUNDS)

    def work(self) -> int:
        """Be the event source mappings between commits too: what a maintainer's command
        sent (repair, rebuild, dlq replay) is handled as it comes; the records handled."""
        with self.lock:
            return self.drain()

    def tick(self, now: dt.datetime | None = None) -> list[Release]:
        """Be EventBridge Scheduler: send every due release, then run it through."""
        with self.lock:
            send = schedule_target(self.client("sqs"))
            fired = fire_due(self.env.scheduler, now or dt.datetime.now(dt.UTC), send)
            if fired:
                self.drain()
            return fired

    def status(self, commit: str) -> dict[str, Any]:
        return status(self.env.sources, commit)

    def fetch(self, key: str) -> bytes | None:
        stored = self.env.site.get(key)
        return stored.body if stored else None

    def commits(self, limit: int = 20) -> list[str]:
        """The commits reported on, newest first."""
        s3 = self.client("s3")
        listed = s3.list_objects_v2(
            Bucket=self.deployed.outputs["SourceBucketName"], Prefix=REPORTS
        ).get("Contents", [])
        reports = [i for i in listed if i["Key"].count("/") == 1]
        reports.sort(key=lambda i: i["LastModified"], reverse=True)
        return [i["Key"].removeprefix(REPORTS).removesuffix(".json") for i in reports[:limit]]


def status_page(stack: LocalStack) -> bytes:
    """``/_broadsheet/``: the last commits, what each stage did and found, the releases
    waiting for their time, and the dead-letter queues."""
    rows = []
    for at, commit in enumerate(stack.commits()):
        found = stack.status(commit)
        if at == 0:  # search is the site's, not a commit's: said once, with the newest
            found["search"] = indexed(stack.env.sources)
        text = format_status(found)
        rows.append(f"<section><pre>{html.escape(text)}</pre></section>")
    releases = (
        "".join(
            f"<li>issue {html.escape(str(r['issue']))} {html.escape(str(r['slug']))}: "
            f"{html.escape(r['what'])} at {html.escape(r['at'])}</li>"
            for r in pending_releases(stack.env)
        )
        or "<li>none</li>"
    )
    dead = (
        "".join(
            f"<li>{html.escape(d['stage'])}: {html.escape(d['commit'][:12])} — "
            f"{html.escape(d['reason'])}</li>"
            for d in dead_letters(stack.env)
        )
        or "<li>empty</li>"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broadsheet local stack</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Broadsheet local stack</h1>
<h2>Last commits</h2>
{"".join(rows) or "<p>Nothing published yet.</p>"}
<h2>Clocks waiting</h2><ul>{releases}</ul>
<h2>Dead-letter queues</h2><ul>{dead}</ul></main></body></html>
"""
    return page.encode()


def report(stack: LocalStack, commit: str, say: Callable[[str], object]) -> None:
    stack.announced.add(commit)
    found = stack.status(commit)
    paths, invalidated = changed(found), cleared(found)
    # A commit by its short id; a release or a rebuild by its whole name.
    name = commit if commit.startswith(NOT_COMMITS) else commit[:12]
    say(
        f"{name}: {len(paths)} page(s) changed, "
        f"{len(invalidated)} path(s) invalidated, "
        f"{len(found['findings'])} finding(s)"
    )
    if not settled(found):  # the queues are drained and it is not done: it failed
        dead = [d for d in dead_letters(stack.env) if d["commit"] == commit]
        say(
            f"  not finished: {len(dead)} of its message(s) in the dead-letter queues "
            f"(broadsheet dlq list; /_broadsheet/ says which stage it stopped at)"
        )
        for letter in dead[:5]:
            say(f"  {letter['stage']} failed: {printable(letter['reason'])}")
    gone = withdrawn(found)
    if gone:
        say(f"  {len(gone)} page(s) withdrawn: readers who open them now get 404")
        for page in gone[:20]:
            say(f"  withdrawn {printable(page)}")
        if len(gone) > 20:
            say(f"  … and {len(gone) - 20} more withdrawn (/_broadsheet/ lists them all)")
    for finding in found["findings"]:
        say(f"  {finding_line(finding)}")
    for page in sorted(paths)[:12]:
        say(f"  changed {printable(page)}")
    if len(paths) > 12:
        say(f"  … and {len(paths) - 12} more changed page(s)")
    for path in invalidated[:8]:
        say(f"  invalidated {path}")


def announce(stack: LocalStack, say: Callable[[str], object]) -> bool:
    """Report each commit a command started (a rebuild, a publish from another terminal)
    once it has settled; whether one is still under way."""
    under_way = False
    for commit in reversed(stack.commits()):
        if commit in stack.announced:
            continue
        if settled(stack.status(commit)):
            report(stack, commit, say)
        else:
            under_way = True
    return under_way


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(
    content: Path,
    port: int,
    *,
    poll: float = 1.0,
    say: Callable[[str], object] = print,
) -> int:
    """Stand the stack up, publish, serve, and publish each new commit until Ctrl-C."""
    import boto3
    from moto.server import ThreadedMotoServer

    from broadsheet.build.serve import make_server

    started = time.perf_counter()
    if threading.current_thread() is threading.main_thread():
        # Stopped by a signal (a test's terminate, a closed terminal) as by Ctrl-C: the
        # servers, the functions' environments and moto shut down in turn.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGHUP, _interrupt)
    # The reader-facing port first: a taken port is the likeliest mistake. (Probed as the
    # server itself binds: a port left in TIME_WAIT by the last Ctrl-C is free.)
    if not port_free(port):
        raise CommandError(
            f"port {port} on 127.0.0.1 is already in use: stop what runs there "
            f"or choose another port (PORT=8002 make run)",
            2,
        )
    git = Git.of(content)
    # moto's request log and its attempts to reach Docker say nothing an editor needs.
    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    # Inside a container moto asks Docker's socket where it runs, once, the first time a
    # function is created, and prints a warning and a JSONDecodeError when there is no
    # Docker (it needs none here: the handlers run in this process). Asked now, quietly;
    # the answer is cached.
    from moto import settings as moto_settings

    with contextlib.redirect_stdout(io.StringIO()):
        moto_settings.moto_server_host()
    # moto beside the site's port, so `--endpoint-url` stays right across restarts; when
    # that one is taken, the terminal says moto is elsewhere this time.
    moto_port = port + 1 if port < 65535 and port_free(port + 1) else free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        **LOCAL_ACCOUNT,
        **QUIET,
        # A job sent back to wait for an earlier one comes back after a second.
        "BROADSHEET_MAX_DELAY": "1",
    }.items():
        os.environ[key] = value
    server = None
    stack: LocalStack | None = None
    try:
        session = boto3.session.Session(region_name=REGION)
        deployed, resolver = deploy_local(session, endpoint)
        sqs = session.client("sqs", region_name=REGION, endpoint_url=endpoint)
        stack = LocalStack(
            deployed,
            # Side by side, as Lambda runs them: a commit's validate, render and index
            # work at once, each invocation in a warm environment of its own.
            event_source(deployed, resolver, sqs, side_by_side=True, overrides=QUIET),
            session,
            endpoint,
            git,
            threading.Lock(),
        )
        say(
            f"local stack: template deployed into moto at {endpoint} "
            f"({len(deployed.resources)} resources)"
        )
        if moto_port != port + 1:
            say(
                f"  (port {port + 1}, moto's usual one, is taken: moto is at {moto_port} this time)"
            )
        for commit in stack.publish(say):
            report(stack, commit, say)

        def fetch(key: str) -> bytes | None:
            if key in {"_broadsheet/index.html", "_broadsheet"}:
                return status_page(stack)
            return stack.fetch(key)

        table = ObjectRedirects(stack.env.sources)
        server = make_server(fetch, "127.0.0.1", port, quiet=True, redirects=table.all)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        say(
            f"Serving the site at http://127.0.0.1:{port}/  (status: /_broadsheet/)  "
            f"ready in {time.perf_counter() - started:.1f} s; Ctrl-C stops"
        )
        say("Commit on this branch and the change is published within seconds.")
        last = git.head()
        under_way = False  # a rebuild (or a publish from elsewhere) not reported yet
        while True:
            time.sleep(poll)
            for release in stack.tick():
                what = WHAT.get(str(release.message.get("reason", "embargo")), "?")
                say(f"issue {release.message.get('issue')} {release.message.get('slug')}: {what}")
                job = job_from_json(release.message)
                if isinstance(job, ReleaseJob):  # what it changed, as a commit's report
                    report(stack, job.commit, say)
            head = git.head()
            if head != last:
                last = head
                try:
                    published = stack.publish(say)
                except CommandError as error:  # what CI's `broadsheet publish` would say
                    say(f"{head[:12]} not published: {error}; the site stays as it was")
                    published = []
                for commit in published:
                    report(stack, commit, say)
            handled = stack.work()
            if handled:
                say(f"handled {handled} message(s) a command sent (repair, rebuild, dlq replay)")
            if handled or under_way:
                under_way = announce(stack, say)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if stack is not None:
            stack.runner.close()
        moto.stop()
    return 0
