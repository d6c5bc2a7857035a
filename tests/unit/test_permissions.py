"""What each function does to the buckets, held to what its policy in the template allows.

The demo paper is published through the in-memory pipeline (a rename, an embargo that
lifts, an article withdrawn, a repair of a damaged bucket), every bucket call recorded
with the stage that made it, and each call matched against the statements of that
stage's function (or of the publish role, for ``broadsheet publish``). A key the code
writes that no statement allows would be AccessDenied on AWS alone, where no test runs:
this is where it shows.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from broadsheet.adapters.store import ObjectStore, Stored
from broadsheet.pipeline.publisher import Git, publish
from broadsheet.pipeline.repair import repair
from broadsheet.pipeline.world import World
from tests.unit.test_pipeline import NOW, Stack, article
from tests.unit.test_template import RESOURCES, statements

FUNCTION = {
    "validate": "ValidateFunction",
    "render": "RenderFunction",
    "index": "IndexFunction",
    "invalidate": "InvalidateFunction",
    "search": "SearchFunction",
    "repair": "RepairFunction",
}
Call = tuple[str, str, str, str]  # who, action, bucket, key


class Recording:
    """A bucket that notes each call with who made it."""

    def __init__(self, store: Any, bucket: str, who: Callable[[], str], log: list[Call]):
        self.store, self.bucket, self.who, self.log = store, bucket, who, log

    @property
    def requests(self) -> int:
        return int(self.store.requests)

    @requests.setter
    def requests(self, value: int) -> None:
        self.store.requests = value

    def _note(self, action: str, key: str) -> None:
        self.log.append((self.who(), action, self.bucket, key))

    def get(self, key: str) -> Stored | None:
        self._note("s3:GetObject", key)
        found: Stored | None = self.store.get(key)
        return found

    def put(self, key: str, body: bytes, **options: Any) -> str:
        self._note("s3:PutObject", key)
        return str(self.store.put(key, body, **options))

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._note("s3:DeleteObject", key)
        self.store.delete(key, if_match=if_match)

    def keys(self, prefix: str = "") -> Iterator[str]:
        self._note("s3:ListBucket", "")
        yield from self.store.keys(prefix)

    def listing(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        self._note("s3:ListBucket", "")
        yield from self.store.listing(prefix)

    def retire(self, key: str, retired: bool = True) -> None:
        self._note("s3:PutObjectTagging" if retired else "s3:DeleteObjectTagging", key)
        self.store.retire(key, retired)

    def is_retired(self, key: str) -> bool:
        self._note("s3:GetObjectTagging", key)
        return bool(self.store.is_retired(key))

    def live(self) -> dict[str, bytes]:
        found: dict[str, bytes] = self.store.live()
        return found

    def expire(self) -> None:
        self.store.expire()


def _targets(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def allowed(policy: list[dict[str, Any]], action: str, bucket: str, key: str) -> bool:
    for statement in policy:
        actions = statement["Action"]
        if action not in (actions if isinstance(actions, list) else [actions]):
            continue
        for target in _targets(statement):
            if action == "s3:ListBucket":
                if target == {"Fn::GetAtt": [bucket, "Arn"]}:
                    return True
            elif isinstance(target, dict) and "Fn::Sub" in target:
                pattern = target["Fn::Sub"]
                prefix = f"${{{bucket}.Arn}}/"
                if pattern.startswith(prefix) and fnmatch.fnmatchcase(key, pattern[len(prefix) :]):
                    return True
    return False


def publish_role() -> list[dict[str, Any]]:
    policies = RESOURCES["PublishRole"]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def test_every_bucket_call_of_each_stage_is_one_its_policy_allows(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    world: World = stack.world
    log: list[Call] = []
    who = ["publish"]
    sources: ObjectStore = Recording(world.sources, "SourceBucket", lambda: who[0], log)  # type: ignore[assignment]
    world.sources = sources
    world.site = Recording(world.site, "SiteBucket", lambda: who[0], log)  # type: ignore[assignment]
    deliver = world.deliver

    def as_its_function(stage: str, envelope: Any, *, keep: bool = False) -> bool:
        who[0] = stage
        try:
            return deliver(stage, envelope, keep=keep)
        finally:
            who[0] = "publish"

    world.deliver = as_its_function  # type: ignore[method-assign]
    stack.publish()
    # A rename, an embargo, an article withdrawn, and the clock moving on
    stack.repo.git(
        "mv",
        "content/issues/411/a-library-run-by-its-readers.md",
        "content/issues/411/our-library.md",
    )
    stack.repo.write(
        "issues/412/later.md", article("Later", publish_at="2025-08-01T06:00:00+00:00")
    )
    stack.repo.commit("rename and embargo")
    stack.publish()
    (stack.repo.content / "issues/410/why-we-print.md").unlink()
    stack.repo.commit("withdrawn")
    stack.publish()
    stack.clock = NOW + dt.timedelta(days=30)
    stack.publish()
    # A damaged bucket, repaired (and a snapshot, as after a lost source bucket)
    who[0] = "hand"
    world.site.delete("en/issues/411/index.html")
    world.site.put("en/stray.html", b"in no record")
    who[0] = "repair"
    assert repair(world).differences == 2
    who[0] = "publish"
    world.drain()
    publish(Git.of(stack.repo.content), world.sources, snapshot=True, say=lambda _: None)
    world.drain()
    stack.assert_is_the_full_build()
    policies = {stage: statements(function) for stage, function in FUNCTION.items()}
    policies["publish"] = publish_role()
    denied = sorted(
        {
            (who_, action, bucket, key)
            for who_, action, bucket, key in log
            if who_ != "hand" and not allowed(policies[who_], action, bucket, key)
        }
    )
    assert denied == [], denied
    assert {w for w, *_ in log} == {*FUNCTION, "publish", "hand"}  # every one was seen
