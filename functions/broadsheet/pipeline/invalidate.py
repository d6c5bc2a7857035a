"""invalidate: one CDN invalidation per commit, once every issue it touched is done.

Each issue's index run leaves the paths it changed in the commit's outbox, and which of
them it created where nothing was, then sends a job here. The job that finds every part
there sends them all in one invalidation, named by the commit (CloudFront answers a
repeated name with the first invalidation). A part that never comes (its job
dead-lettered) is waited for a while, then the others go out without it: one issue's
failure does not keep another's pages stale.
"""

from __future__ import annotations

import hashlib
from typing import Any

from broadsheet.edition import urls
from broadsheet.errors import NotYet
from broadsheet.pipeline.env import Env, read_json, record
from broadsheet.pipeline.messages import InvalidateJob, outbox_prefix, status_key

MAX_WAITS = 15  # at a minute each


def invalidate_commit(job: InvalidateJob, env: Env) -> dict[str, Any]:
    prefix = outbox_prefix(job.commit)
    boxes = {
        int(k[len(prefix) :].removesuffix(".json")): read_json(env.sources, k) or {}
        for k in env.sources.keys(prefix)
    }
    missing = sorted(set(job.parts) - set(boxes))
    if missing and job.waits < MAX_WAITS:
        raise NotYet(f"{job.commit}: issues {missing} are not indexed yet", delay=60)
    born_everywhere: dict[str, bool] = {}
    for box in boxes.values():
        born = {urls.cached_path(p) for p in box.get("born", [])}
        for path in map(urls.cached_path, box.get("paths", [])):
            born_everywhere[path] = born_everywhere.get(path, True) and path in born
    # A file created where nothing was has no older copy in any cache, unless another
    # issue's job of this commit changed it after: then that job did not find it born.
    cleared = urls.invalidation_paths(p for p, born in born_everywhere.items() if not born)
    # Named by the commit, what it clears and the runs that replaced files: a repeat is
    # answered with the first invalidation, and paths a retried job added, or files a
    # run replaced after this was made (a part still under way then, the same commit
    # published again, a run cut short), get one of their own when that run ends.
    runs = [
        f"{n}:{box.get('sequence', 0)}:{box.get('begun', 0)}:{box.get('ended', 0)}"
        for n, box in sorted(boxes.items())
    ]
    digest = hashlib.sha256("\n".join(cleared + runs).encode()).hexdigest()[:12]
    reference = f"broadsheet-{job.commit}-{digest}"
    sent = read_json(env.sources, status_key(job.commit, "invalidate")) or {}
    if sent.get("reference") == reference:  # another part's job sent this already
        return {"commit": job.commit, "paths": len(cleared), "invalidation": sent["invalidation"]}
    invalidation = env.cdn.invalidate(cleared, reference=reference) if cleared else None
    record(
        env,
        job.commit,
        "invalidate",
        None,
        paths=cleared,
        invalidation=invalidation,
        missing=missing,
        reference=reference,
    )
    return {"commit": job.commit, "paths": len(cleared), "invalidation": invalidation}
