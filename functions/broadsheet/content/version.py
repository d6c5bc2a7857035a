"""The version of what reads, checks and typesets an article.

A checked article or a typeset body is as good as new only when it was made by this
version: the article cache, the pipeline's stored verdicts and its stored bodies are all
keyed by it, so new code (a typesetter fix, a new limit) is never answered with old work.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

# The modules whose code decides what an article is and how its body reads.
_CODE = (
    "reader.py",
    "fields.py",
    "article.py",
    "typeset.py",
    "linotype.py",
    "site.py",
    "issue.py",
    "folding.py",
)


@cache
def code_version() -> str:
    digest = hashlib.sha256()
    package = resources.files("broadsheet.content")
    for name in _CODE:
        digest.update(package.joinpath(name).read_bytes())
    # Module attributes, not package metadata: the Lambda package ships no dist-info.
    import markdown_it
    import mdit_py_plugins
    import yaml

    for module in (yaml, markdown_it, mdit_py_plugins):
        digest.update(f"{module.__name__}={module.__version__}".encode())
    from broadsheet.content import linotype

    digest.update(f"markdown_it_pyrs={linotype.VERSION}".encode())
    return digest.hexdigest()[:16]
