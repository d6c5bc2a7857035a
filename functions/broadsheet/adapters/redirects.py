"""Where renamed articles' old addresses point: CloudFront's key value store (read by the
viewer-request function at the edge), or a JSON object for the local stack and tests."""

from __future__ import annotations

import json
from typing import Any, Protocol

from broadsheet.adapters.store import ObjectStore, PreconditionFailed


class Redirects(Protocol):
    def all(self) -> dict[str, str]: ...

    def put(self, old: str, new: str) -> None: ...


def follow(redirects: Redirects, old: str, new: str) -> None:
    """Point ``old`` at ``new``, and every address that pointed at ``old`` too: a page
    renamed twice still answers at its first address with one hop."""
    for source, target in redirects.all().items():
        if target == old:
            redirects.put(source, new)
    redirects.put(old, new)


class ObjectRedirects:
    """A JSON mapping in an object store, written with If-Match like the issue states."""

    def __init__(self, store: ObjectStore, key: str = "state/redirects.json") -> None:
        self.store, self.key = store, key

    def all(self) -> dict[str, str]:
        stored = self.store.get(self.key)
        return dict(json.loads(stored.body)) if stored else {}

    def put(self, old: str, new: str) -> None:
        for _ in range(12):
            stored = self.store.get(self.key)
            mapping = json.loads(stored.body) if stored else {}
            mapping[old] = new
            try:
                self.store.put(
                    self.key,
                    json.dumps(mapping, sort_keys=True).encode(),
                    content_type="application/json",
                    if_match=stored.etag if stored else None,
                    if_none_match=stored is None,
                )
                return
            except PreconditionFailed:
                continue
        raise RuntimeError("the redirect table kept changing under us")


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

    def put(self, old: str, new: str) -> None:
        etag = self.client.describe_key_value_store(KvsARN=self.arn)["ETag"]
        self.client.put_key(KvsARN=self.arn, Key=old, Value=new, IfMatch=etag)
