"""Deploys by release: one package, staged, promoted, rolled back; and a guarded delete.

``make deploy ENV=staging`` packages the build once (``sam package``: the code in S3, a
template naming it) and keeps that packaged template here as ``.deploys/<release>.yaml``,
then deploys it. ``make promote`` deploys to production the very package the staging
stack runs, found by the ``Release`` output staging reports, so what was tried is what
readers get. ``make rollback ENV= RELEASE=`` deploys a kept package again. Inside a
deploy, CodeDeploy moves each function's alias and moves it back on an alarm (the
template's DeploymentPreference); these commands are the maintainer's, between deploys.

The kept templates are not history: each can be made again from git at its commit
(``make deploy`` there), the hashed locks fixing every dependency.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SAMCONFIG = ROOT / "infra" / "samconfig.toml"
KEPT = ROOT / ".deploys"


RELEASE = re.compile(r"[0-9a-f]{16}")  # pipeline/release.py's digest


class DeployError(Exception):
    """A deploy refused, with what to do instead."""


def settings(env: str, config: Path = SAMCONFIG) -> dict[str, str]:
    """The stack name and region an environment of samconfig.toml names."""
    table = tomllib.loads(config.read_text())
    if env not in table:
        known = ", ".join(sorted(k for k in table if isinstance(table[k], dict)))
        raise DeployError(f"{config.name} has no environment {env!r} (it has: {known})")
    section = table[env]
    stack = section.get("global", {}).get("parameters", {}).get("stack_name")
    region = section.get("deploy", {}).get("parameters", {}).get("region")
    if not stack or not region:
        raise DeployError(f"{config.name}: [{env}] names no stack_name or region")
    return {"stack": stack, "region": region}


def release_of(packaged: Path) -> str:
    """The release a packaged template deploys (its Release output, make build wrote it)."""
    from broadsheet.local.template import parse

    try:
        outputs = parse(packaged.read_text()).get("Outputs", {})
    except OSError as error:
        raise DeployError(f"cannot read {packaged}: {error.strerror}") from error
    except Exception as error:  # the YAML parser's errors
        raise DeployError(f"{packaged} is not a template: {error}") from error
    value = outputs.get("Release", {}).get("Value")
    if not isinstance(value, str) or not RELEASE.fullmatch(value):
        raise DeployError(
            f"{packaged} states no Release output (found {value!r}): "
            "keep the template make build wrote and sam package packaged"
        )
    return value


# What makes a release (pipeline/release.py digests the code; the rest builds the package).
RELEASE_PATHS = ("functions", "requirements", "infra", "pyproject.toml", "Makefile")


def committed(root: Path = ROOT) -> str:
    """The commit the working tree is, refusing one whose release files differ from it:
    a deploy of uncommitted code would run a release no commit can make again."""
    # Ignored files too (a stray debug.log would ship in the package): all but bytecode,
    # which make build leaves out.
    changed = [
        line
        for line in subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--", *RELEASE_PATHS],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        if not (line.startswith("!!") and re.search(r"__pycache__/|\.pyc$|\.egg-info/", line))
    ]
    if changed:
        listed = "\n  ".join(changed[:20])
        raise DeployError(
            "the working tree differs from its commit where a release is made:\n  "
            f"{listed}\ncommit (or stash) first, so git can make this release again; "
            "DIRTY=1 deploys it anyway"
        )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    )
    return head.stdout.strip()


def keep(packaged: Path, kept: Path = KEPT, commit: str | None = None) -> Path:
    """Keep a packaged template under its release (and the commit it was built from);
    the path kept."""
    kept.mkdir(parents=True, exist_ok=True)
    release = release_of(packaged)
    target = kept / f"{release}.yaml"
    said = f"# Broadsheet release {release}, built from commit {commit or 'unknown'}\n"
    target.write_text(said + packaged.read_text())
    return target


def running(stack: str, cloudformation: Any) -> str:
    """The release a deployed stack runs."""
    try:
        [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except Exception as error:  # botocore's: no such stack, no credentials, no network
        if "does not exist" in str(error):
            raise DeployError(f"no stack {stack}: deploy it first") from error
        raise DeployError(f"cannot ask CloudFormation about {stack}: {error}") from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if not outputs.get("Release"):
        raise DeployError(f"the stack {stack} states no Release: it predates releases")
    return str(outputs["Release"])


def package_for(release: str, kept: Path = KEPT) -> Path:
    if not RELEASE.fullmatch(release):
        raise DeployError(f"{release!r} is not a release (16 hex digits, as .deploys/ names them)")
    path = kept / f"{release}.yaml"
    if not path.exists():
        have = sorted(p.stem for p in kept.glob("*.yaml")) if kept.exists() else []
        raise DeployError(
            f"no package of release {release} in {kept} (kept: {', '.join(have) or 'none'}): "
            "check out the commit that made it and make deploy ENV=staging again"
        )
    return path


def deploy_kept(
    sam: str,
    env: str,
    release: str,
    kept: Path = KEPT,
    run: Callable[[list[str]], int] = subprocess.call,
) -> int:
    """``sam deploy`` of a kept package to an environment's stack: a rollback, and the
    second half of a promote."""
    stack = settings(env)["stack"]
    template = package_for(release, kept)
    print(f"deploying release {release} to {stack}", flush=True)
    command = ["deploy", "--config-file", str(SAMCONFIG), "--config-env", env]
    return run([sam, *command, "--template-file", str(template)])


def promote(
    cloudformation: Any,
    sam: str,
    source: str = "staging",
    target: str = "default",
    kept: Path = KEPT,
    run: Callable[[list[str]], int] = subprocess.call,
) -> int:
    """Deploy to ``target`` the package the ``source`` stack runs."""
    if source == target:
        raise DeployError(f"promote from {source} to itself: name another environment")
    settings(target)  # an unknown environment is refused before anything is asked
    staged = running(settings(source)["stack"], cloudformation)
    print(f"{settings(source)['stack']} runs release {staged}", flush=True)
    return deploy_kept(sam, target, staged, kept, run)


def confirm_destroy(
    env: str, answer: Callable[[str], str] = input, confirmed: str | None = None
) -> str:
    """The stack to delete, once its name is typed back; what stays is said first."""
    stack = settings(env)["stack"]
    print(
        f"This deletes the stack {stack}: its functions, queues with their dead letters "
        "(messages not yet applied are lost), the distribution (the site goes offline), "
        "the alarms and the logs.\n"
        "It keeps the source, site and logs buckets (DeletionPolicy Retain): delete them "
        "by hand when you mean to, after emptying them. The site can be rebuilt from git "
        "into a new stack (broadsheet publish --snapshot). It keeps the packaged code in "
        "SAM's bucket too: the other environment and every kept package deploy it.",
        flush=True,
    )
    if confirmed is not None:
        typed = confirmed
    else:
        try:
            typed = answer(f"Type {stack} to delete it: ")
        except (EOFError, KeyboardInterrupt):
            typed = ""
    if typed.strip() != stack:
        raise DeployError(f"not deleted: {typed.strip()!r} is not {stack!r}")
    return stack


def delete_stack(stack: str, cloudformation: Any) -> None:
    """Delete the stack alone, through CloudFormation: ``sam delete --no-prompts`` would
    also delete the packaged code under its S3 prefix, which staging, production and
    every kept package share."""
    cloudformation.delete_stack(StackName=stack)
    print(f"deleting {stack}; waiting for CloudFormation (the distribution takes minutes)")
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240}
    )
    print(f"{stack} deleted; the buckets remain")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m broadsheet.local.deploys",
        description="Deploys by release (make deploy, promote, rollback, destroy run this). "
        "Environments are infra/samconfig.toml's: default (production) and staging.",
    )
    parser.add_argument("--sam", default="sam", help="the SAM CLI to run (default: sam)")
    commands = parser.add_subparsers(dest="command", required=True)
    keep_ = commands.add_parser("keep", help="keep a packaged template under its release")
    keep_.add_argument("packaged", type=Path, help="the template sam package wrote")
    keep_.add_argument("--commit", default=None, help="the commit it was built from")
    check = commands.add_parser("committed", help="refuse a tree that differs from its commit")
    check.add_argument(
        "--allow-dirty", action="store_true", help="deploy anyway (a release git cannot remake)"
    )
    promote_ = commands.add_parser("promote", help="the package one stack runs, to another")
    promote_.add_argument("--from", dest="source", default="staging", help="default: staging")
    promote_.add_argument("--to", dest="target", default="default", help="default: default")
    back = commands.add_parser("rollback", help="a kept release deployed again")
    back.add_argument("--env", default="default", help="default: default (production)")
    back.add_argument("--release", required=True, help="a release kept in .deploys/")
    destroy = commands.add_parser("destroy", help="say what goes and what stays, ask, delete")
    destroy.add_argument("--env", default="default", help="default: default (production)")
    destroy.add_argument("--confirm", default=None, help="the stack's name, typed ahead")
    args = parser.parse_args(argv)
    try:
        if args.command == "keep":
            print(keep(args.packaged, commit=args.commit))
            return 0
        if args.command == "committed":
            if args.allow_dirty:
                print("warning: deploying a tree that differs from its commit", file=sys.stderr)
            else:
                print(committed())
            return 0
        if args.command == "promote":
            import boto3

            region = settings(args.source)["region"]
            client = boto3.client("cloudformation", region_name=region)
            return promote(client, args.sam, args.source, args.target)
        if args.command == "rollback":
            return deploy_kept(args.sam, args.env, args.release)
        stack = confirm_destroy(args.env, confirmed=args.confirm)
        import boto3

        region = settings(args.env)["region"]
        delete_stack(stack, boto3.client("cloudformation", region_name=region))
        return 0
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
