"""The local stack: the real template in moto on loopback, the real handlers in this
process, and a local CDN in front of the site bucket. ``make run`` and the end-to-end
tests both stand it up through ``deploy_local``."""

from __future__ import annotations

import html
import importlib
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broadsheet.local.eventsource import FunctionMapping, LocalEventSource
from broadsheet.local.stack import Deployed, Resolver, deploy
from broadsheet.local.template import code_zip, parse, template_text, transform

REGION = "us-east-1"
STACK = "broadsheet"
PARAMETERS = {
    "GitHubRepository": "local/broadsheet-content",
    "CreateGitHubOidcProvider": "true",
    "AlarmEmail": "",
}
STAGE_ORDER = ("Validate", "Render", "Index", "Invalidate")


def deploy_local(session: Any, endpoint_url: str | None = None) -> tuple[Deployed, Resolver]:
    """Package the code, transform the template and deploy it into moto."""
    s3 = session.client("s3", region_name=REGION, endpoint_url=endpoint_url)
    s3.create_bucket(Bucket="broadsheet-artifacts")
    package = Path(importlib.import_module("broadsheet").__file__ or "").parent
    s3.put_object(Bucket="broadsheet-artifacts", Key="package.zip", Body=code_zip(package))
    iam = session.client("iam", region_name=REGION, endpoint_url=endpoint_url)
    template = transform(
        parse(template_text()), PARAMETERS, "s3://broadsheet-artifacts/package.zip", iam
    )
    return deploy(template, STACK, PARAMETERS, session, REGION, endpoint_url)


def event_source(deployed: Deployed, resolver: Resolver, sqs: Any) -> LocalEventSource:
    """The template's own event source mappings, each to its function's real handler."""
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
        mappings.append(
            FunctionMapping(
                function["name"],
                arns[function["queue_arn"]],
                handler,
                environment,
                function["batch_size"],
            )
        )
    mappings.sort(key=lambda m: next(i for i, s in enumerate(STAGE_ORDER) if s in m.name))
    return LocalEventSource(sqs, mappings)


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
    repo: Path
    content_dir: str
    lock: threading.Lock

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION, endpoint_url=self.endpoint_url)

    def head(self) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def publish(self) -> list[str]:
        """Publish the commits since the last publish, and run them through the stages."""
        from broadsheet.adapters.store import S3Store
        from broadsheet.pipeline.publisher import Git, publish

        with self.lock:
            store = S3Store(self.client("s3"), self.deployed.outputs["SourceBucketName"])
            commits = publish(Git(self.repo, self.content_dir), store, say=lambda _: None)
            if commits:
                self.runner.drain()
            return commits

    def status(self, commit: str) -> dict[str, Any]:
        from broadsheet.pipeline.operations import status

        return status(self.stack(), commit)

    def stack(self) -> Any:
        from broadsheet.pipeline.operations import Stack

        return Stack.from_outputs(self.deployed.outputs, self.endpoint_url)

    def fetch(self, key: str) -> bytes | None:
        s3 = self.client("s3")
        try:
            body: bytes = s3.get_object(Bucket=self.deployed.outputs["SiteBucketName"], Key=key)[
                "Body"
            ].read()
            return body
        except s3.exceptions.NoSuchKey:
            return None


def status_page(stack: LocalStack) -> bytes:
    """``/_broadsheet/``: the last commits, their findings, and the dead-letter queues."""
    from broadsheet.pipeline.operations import dead_letters

    sources = stack.deployed.outputs["SourceBucketName"]
    s3 = stack.client("s3")
    keys = s3.list_objects_v2(Bucket=sources, Prefix="reports/").get("Contents", [])
    keys.sort(key=lambda k: k["LastModified"], reverse=True)
    rows = []
    for item in keys[:20]:
        commit = item["Key"].removeprefix("reports/").removesuffix(".json")
        found = stack.status(commit)
        invalidate = found["stages"]["invalidate"] or {}
        findings = "".join(
            f"<li>{html.escape(f['path'])}:{f['line']}: {html.escape(f['field'] or '')} "
            f"{html.escape(f['message'])}</li>"
            for f in found["findings"]
        )
        stages = " · ".join(
            f"{s}: {'done' if found['stages'][s] else 'pending'}" for s in found["stages"]
        )
        rows.append(
            f"<tr><td><code>{html.escape(commit[:12])}</code></td><td>{stages}</td>"
            f"<td>{len(invalidate.get('paths', []))}</td>"
            f"<td><ul>{findings}</ul></td></tr>"
        )
    dead = dead_letters(stack.stack())
    dead_rows = (
        "".join(
            f"<li>{html.escape(d['stage'])}: {html.escape(d['commit'][:12])} — "
            f"{html.escape(d['reason'])}</li>"
            for d in dead
        )
        or "<li>empty</li>"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broadsheet local stack</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Broadsheet local stack</h1>
<h2>Last commits</h2>
<table><thead><tr><th>commit</th><th>stages</th><th>paths invalidated</th><th>findings</th>
</tr></thead><tbody>{"".join(rows)}</tbody></table>
<h2>Dead-letter queues</h2><ul>{dead_rows}</ul></main></body></html>
"""
    return page.encode()


def report(stack: LocalStack, commit: str, say: Callable[[str], object]) -> None:
    found = stack.status(commit)
    render = found["stages"]["render"] or {}
    index = found["stages"]["index"] or {}
    invalidate = found["stages"]["invalidate"] or {}
    pages = sorted(set(render.get("pages", [])) | set(index.get("paths", [])))
    say(
        f"{commit[:12]}: {len(pages)} page(s) changed, "
        f"{len(invalidate.get('paths', []))} path(s) invalidated, "
        f"{len(found['findings'])} finding(s)"
    )
    for finding in found["findings"]:
        field = f" {finding['field']}:" if finding["field"] else ""
        say(
            f"  {finding['path']}:{finding['line']}:{finding['column']}:{field} "
            f"{finding['message']}"
        )
    for page in pages[:12]:
        say(f"  changed {page}")
    if len(pages) > 12:
        say(f"  … and {len(pages) - 12} more")
    for path in invalidate.get("paths", [])[:8]:
        say(f"  invalidated {path}")


def run(
    repo: Path,
    content_dir: str,
    port: int,
    *,
    poll: float = 1.0,
    say: Callable[[str], object] = print,
) -> int:
    """Stand the stack up, publish, serve, and publish each new commit until Ctrl-C."""
    import boto3
    from moto.server import ThreadedMotoServer

    from broadsheet.adapters.redirects import ObjectRedirects
    from broadsheet.adapters.store import S3Store
    from broadsheet.build.serve import make_server

    started = time.perf_counter()
    try:  # the reader-facing port first: a taken port is the likeliest mistake
        probe = socket.socket()
        probe.bind(("127.0.0.1", port))
        probe.close()
    except OSError:
        say(
            f"broadsheet run: port {port} on 127.0.0.1 is already in use: stop what runs there "
            f"or choose another port (PORT=8001 make run)"
        )
        return 2
    # moto's request log and its attempts to reach Docker say nothing an editor needs.
    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        # The terminal report says what an editor needs; CloudWatch metric lines and
        # handler logs would bury it.
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }.items():
        os.environ[key] = value
    server = None
    try:
        session = boto3.session.Session(region_name=REGION)
        deployed, resolver = deploy_local(session, endpoint)
        sqs = session.client("sqs", region_name=REGION, endpoint_url=endpoint)
        stack = LocalStack(
            deployed,
            event_source(deployed, resolver, sqs),
            session,
            endpoint,
            repo,
            content_dir,
            threading.Lock(),
        )
        say(
            f"local stack: template deployed into moto at {endpoint} "
            f"({len(deployed.resources)} resources)"
        )
        for commit in stack.publish():
            report(stack, commit, say)

        def fetch(key: str) -> bytes | None:
            if key in {"_broadsheet/index.html", "_broadsheet"}:
                return status_page(stack)
            return stack.fetch(key)

        table = ObjectRedirects(S3Store(stack.client("s3"), deployed.outputs["SourceBucketName"]))
        server = make_server(fetch, "127.0.0.1", port, quiet=True, redirects=table.all)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        say(
            f"Serving the site at http://127.0.0.1:{port}/  (status: /_broadsheet/)  "
            f"ready in {time.perf_counter() - started:.1f} s; Ctrl-C stops"
        )
        say("Commit on this branch and the change is published within seconds.")
        last = stack.head()
        while True:
            time.sleep(poll)
            head = stack.head()
            if head != last:
                last = head
                for commit in stack.publish():
                    report(stack, commit, say)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        moto.stop()
    return 0
