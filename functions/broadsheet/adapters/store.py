"""Object storage: S3 buckets, with the conditional writes the index relies on."""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from broadsheet.errors import Retryable


class PreconditionFailed(Retryable):
    """The object changed (If-Match) or already exists (If-None-Match): read it again."""


@dataclass(frozen=True)
class Stored:
    body: bytes
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    requests: int  # requests made so far: what a commit costs in S3 calls

    def get(self, key: str) -> Stored | None: ...

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        cache_control: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str: ...

    def delete(self, key: str, *, if_match: str | None = None) -> None: ...

    def keys(self, prefix: str = "") -> Iterator[str]: ...

    def listing(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        """Each key under ``prefix`` with its ETag (the MD5 of its bytes, as S3 gives it
        for an object put whole and encrypted with S3's own keys)."""

    def retire(self, key: str, retired: bool = True) -> None:
        """Mark an object to expire (the bucket's lifecycle rule), or keep it again."""

    def is_retired(self, key: str) -> bool:
        """Whether an object is marked to expire."""


RETIRED = ("broadsheet-retired", "yes")  # the tag the site bucket's lifecycle rule expires


class MemoryStore:
    """A bucket in a dict, with S3's conditional-write semantics; counts requests."""

    def __init__(self) -> None:
        self.objects: dict[str, Stored] = {}
        self.content_types: dict[str, str] = {}
        self.retired: set[str] = set()
        self.requests = 0
        self._lock = threading.Lock()
        # The keys in order, so a listing costs what it finds, as S3's does, and a
        # benchmark's archive does not charge its size to every listing of a prefix.
        self._sorted: list[str] = []

    def get(self, key: str) -> Stored | None:
        self.requests += 1
        return self.objects.get(key)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        cache_control: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        self.requests += 1
        with self._lock:
            current = self.objects.get(key)
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailed(key)
            if if_none_match and current is not None:
                raise PreconditionFailed(key)
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
            if current is None:
                bisect.insort(self._sorted, key)
            self.objects[key] = Stored(body, etag, dict(metadata or {}))
            self.retired.discard(key)  # as S3: a new object has no tags
            self.content_types[key] = content_type
            return etag

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self.requests += 1
        with self._lock:
            current = self.objects.get(key)
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailed(key)
            if self.objects.pop(key, None) is not None:
                self._forget(key)
            self.retired.discard(key)

    def _forget(self, key: str) -> None:
        del self._sorted[bisect.bisect_left(self._sorted, key)]

    def keys(self, prefix: str = "") -> Iterator[str]:
        self.requests += 1
        found = []
        with self._lock:
            at = bisect.bisect_left(self._sorted, prefix)
            while at < len(self._sorted) and self._sorted[at].startswith(prefix):
                found.append(self._sorted[at])
                at += 1
        yield from found

    def listing(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        for key in self.keys(prefix):
            stored = self.objects.get(key)
            if stored is not None:
                yield key, stored.etag

    def live(self) -> dict[str, bytes]:
        """Every object that stays: the bucket less what its lifecycle rule expires."""
        return {k: v.body for k, v in self.objects.items() if k not in self.retired}

    def expire(self) -> None:
        """What the site bucket's lifecycle rule does a day on: the tagged objects go."""
        with self._lock:
            for key in self.retired:
                del self.objects[key]
                self._forget(key)
            self.retired.clear()

    def retire(self, key: str, retired: bool = True) -> None:
        self.requests += 1
        with self._lock:
            if key not in self.objects:
                raise KeyError(f"{key}: no such object to tag (S3 says NoSuchKey)")
            if retired:
                self.retired.add(key)
            else:
                self.retired.discard(key)

    def is_retired(self, key: str) -> bool:
        self.requests += 1
        return key in self.retired


class S3Store:
    """One bucket through boto3."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.requests = 0
        self._counting = threading.Lock()  # requests go side by side (``side_by_side``)

    def _count(self) -> None:
        with self._counting:
            self.requests += 1

    def get(self, key: str) -> Stored | None:
        self._count()
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        return Stored(
            response["Body"].read(), response["ETag"].strip('"'), response.get("Metadata", {})
        )

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        cache_control: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        self._count()
        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "Metadata": dict(metadata or {}),
        }
        if cache_control:
            arguments["CacheControl"] = cache_control
        if if_match is not None:
            arguments["IfMatch"] = f'"{if_match}"'
        if if_none_match:
            arguments["IfNoneMatch"] = "*"
        try:
            response = self.client.put_object(**arguments)
        except self.client.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"PreconditionFailed", "ConditionalRequestConflict", "412"}:
                raise PreconditionFailed(key) from error
            if code == "NoSuchKey" and if_match is not None:
                raise PreconditionFailed(key) from error
            raise
        return str(response["ETag"]).strip('"')

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._count()
        arguments = {"Bucket": self.bucket, "Key": key}
        if if_match is not None:
            arguments["IfMatch"] = f'"{if_match}"'
        try:
            self.client.delete_object(**arguments)
        except self.client.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"PreconditionFailed", "ConditionalRequestConflict", "412", "NoSuchKey"}:
                raise PreconditionFailed(key) from error
            raise

    def keys(self, prefix: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            self._count()
            for item in page.get("Contents", []):
                yield item["Key"]

    def listing(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            self._count()
            for item in page.get("Contents", []):
                yield item["Key"], str(item["ETag"]).strip('"')

    def retire(self, key: str, retired: bool = True) -> None:
        self._count()
        if retired:
            tags = [{"Key": RETIRED[0], "Value": RETIRED[1]}]
            self.client.put_object_tagging(Bucket=self.bucket, Key=key, Tagging={"TagSet": tags})
        else:
            self.client.delete_object_tagging(Bucket=self.bucket, Key=key)

    def is_retired(self, key: str) -> bool:
        self._count()
        tags = self.client.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        return {"Key": RETIRED[0], "Value": RETIRED[1]} in tags


def update(
    store: ObjectStore,
    key: str,
    change: Callable[[bytes | None], bytes | None],
    *,
    content_type: str = "application/json",
    attempts: int = 12,
) -> bytes | None:
    """Read, change and write one object, as long as nobody wrote it in between.

    ``change`` gets the current bytes (None when absent) and returns the new ones, or
    None to leave the object as it is; it runs again on the fresh bytes when another
    writer got there first, so it must be a pure function of what it is given.
    """
    for _ in range(attempts):
        current = store.get(key)
        wanted = change(current.body if current else None)
        if wanted is None or (current is not None and wanted == current.body):
            return current.body if current else None
        try:
            store.put(
                key,
                wanted,
                content_type=content_type,
                if_match=current.etag if current else None,
                if_none_match=current is None,
            )
            return wanted
        except PreconditionFailed:
            continue
    raise Retryable(f"{key} kept changing under us")


def put_new(
    store: ObjectStore, key: str, body: bytes, *, content_type: str = "application/octet-stream"
) -> bool:
    """Write an object that never changes under its key (content-addressed) unless it is
    there already; True when this call wrote it."""
    try:
        store.put(key, body, content_type=content_type, if_none_match=True)
    except PreconditionFailed:
        return False
    return True
