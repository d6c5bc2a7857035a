"""Which Broadsheet this is: a digest of the code that writes a manifest and of the code
that applies one (the stages, the content model, the edition, the adapters).

The publisher and the deployed functions must be the same release: a manifest one
version writes, another may read otherwise, or drop. ``make build`` writes the digest
into the template as the stack's ``Release`` output, ``broadsheet publish`` refuses a
stack of another release, and validate retries a manifest of another (a deploy in
progress may hand it to its own), leaving it in the dead-letter queue if none takes it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the broadsheet package
# What the Lambda package carries of it (make build drops local/ and build/).
PARTS = ("adapters", "content", "edition", "handlers", "pipeline", "errors.py", "__init__.py")


@cache
def release(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for part in PARTS:
        path = root / part
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if not file.is_file() or "__pycache__" in file.parts:
                continue
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]
