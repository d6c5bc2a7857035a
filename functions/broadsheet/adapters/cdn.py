"""The CDN: one invalidation per commit, retried with backoff when CloudFront is busy."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

RETRIED = {
    "TooManyInvalidationsInProgress",
    "Throttling",
    "ThrottlingException",
    "ServiceUnavailable",
    "RequestLimitExceeded",
}


class CDN(Protocol):
    def invalidate(self, paths: Sequence[str], reference: str) -> str: ...


class MemoryCDN:
    def __init__(self) -> None:
        self.invalidations: dict[str, list[str]] = {}

    def invalidate(self, paths: Sequence[str], reference: str) -> str:
        # CloudFront answers a repeated CallerReference with the first invalidation.
        self.invalidations.setdefault(reference, list(paths))
        return f"I{abs(hash(reference)) % 10**8:08d}"


class CloudFrontCDN:
    def __init__(
        self,
        client: Any,
        distribution_id: str,
        *,
        attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.distribution_id = distribution_id
        self.attempts = attempts
        self.sleep = sleep

    def invalidate(self, paths: Sequence[str], reference: str) -> str:
        for attempt in range(self.attempts):
            try:
                response = self.client.create_invalidation(
                    DistributionId=self.distribution_id,
                    InvalidationBatch={
                        "Paths": {"Quantity": len(paths), "Items": list(paths)},
                        "CallerReference": reference,
                    },
                )
                return str(response["Invalidation"]["Id"])
            except self.client.exceptions.ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code not in RETRIED or attempt + 1 == self.attempts:
                    raise
                # Full jitter: concurrent commits do not retry in step.
                self.sleep(random.uniform(0, min(20.0, 0.5 * 2**attempt)))
        raise AssertionError("unreachable")
