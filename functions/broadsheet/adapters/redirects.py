"""Where renamed articles' old addresses point: CloudFront's key value store (read by the
viewer-request function at the edge), or a JSON object for the local stack and tests.

The table is never edited by hand: the index stage derives it from the renames it has
seen and the pages that exist now, and ``sync`` makes the store hold exactly that.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from broadsheet.adapters.store import ObjectStore, update


class Redirects(Protocol):
    def all(self) -> dict[str, str]: ...

    def put(self, old: str, new: str) -> None: ...

    def delete(self, old: str) -> None: ...


def sync(redirects: Redirects, wanted: Mapping[str, str]) -> list[str]:
    """Make the store hold exactly ``wanted``; the old addresses that changed."""
    current = redirects.all()
    changed = []
    for old in sorted(set(current) - set(wanted)):
        redirects.delete(old)
        changed.append(old)
    for old, new in sorted(wanted.items()):
        if current.get(old) != new:
            redirects.put(old, new)
            changed.append(old)
    return changed


class ObjectRedirects:
    """A JSON mapping in an object store, written with If-Match like the issue states."""

    def __init__(self, store: ObjectStore, key: str = "state/redirects.json") -> None:
        self.store, self.key = store, key

    def all(self) -> dict[str, str]:
        stored = self.store.get(self.key)
        return dict(json.loads(stored.body)) if stored else {}

    def _change(self, old: str, new: str | None) -> None:
        def change(current: bytes | None) -> bytes:
            mapping = json.loads(current) if current else {}
            if new is None:
                mapping.pop(old, None)
            else:
                mapping[old] = new
            return json.dumps(mapping, sort_keys=True).encode()

        update(self.store, self.key, change)

    def put(self, old: str, new: str) -> None:
        self._change(old, new)

    def delete(self, old: str) -> None:
        self._change(old, None)


class KeyValueStoreRedirects:
    """CloudFront KeyValueStore: each write names the store's current ETag."""

    def __init__(self, client: Any, arn: str) -> None:
        self.client, self.arn = client, arn

    def all(self) -> dict[str, str]:
        found: dict[str, str] = {}
        paginator = self.client.get_paginator("list_keys")
        for page in paginator.paginate(KvsARN=self.arn):
            found.update({item["Key"]: item["Value"] for item in page.get("Items", [])})
        return found

    def _etag(self) -> str:
        return str(self.client.describe_key_value_store(KvsARN=self.arn)["ETag"])

    def put(self, old: str, new: str) -> None:
        self.client.put_key(KvsARN=self.arn, Key=old, Value=new, IfMatch=self._etag())

    def delete(self, old: str) -> None:
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_key(KvsARN=self.arn, Key=old, IfMatch=self._etag())
