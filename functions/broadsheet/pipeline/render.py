"""render: typeset the articles validate read anew, once per version of the typesetter.

The typeset body is kept for index to put in pages, and the article's facts are taken
again from the typeset text (its summary is the first paragraph as readers see it, with
its quotes and emphasis resolved), so index publishes what the full build publishes.
"""

from __future__ import annotations

from typing import Any

from broadsheet.adapters.store import put_new
from broadsheet.content.photo import Photo, variants
from broadsheet.content.site import Site
from broadsheet.content.version import code_version
from broadsheet.errors import Permanent
from broadsheet.pipeline import desk
from broadsheet.pipeline import verdicts as kept
from broadsheet.pipeline.env import Env, blob, record
from broadsheet.pipeline.messages import Checked, Examined, IssueJob, body_key, variant_key
from broadsheet.pipeline.validate import read_site


def typeset(env: Env, checked: Checked, number: int, site: Site) -> tuple[Checked, str | None]:
    """The article read by the typesetter: its verdict, and its body (None when it does
    not check out under this code and site.yml), which is kept."""
    verdict, html = desk.check_article(
        checked.path,
        "100644",
        checked.blob,
        lambda digest: blob(env.sources, digest),
        number,
        site,
        checked.version,
        typeset=True,
    )
    if html is None:
        return verdict, None
    put_new(
        env.sources,
        body_key(code_version(), checked.blob),
        html.encode(),
        content_type="text/html; charset=utf-8",
    )
    return verdict, html


def make_variants(env: Env, examined: Examined) -> int:
    """A photograph's variants, made once per image and SPEC; how many were made now."""
    photo = Photo.from_facts(examined.facts)
    if photo.problem is not None:
        return 0
    there = {k.rsplit("/", 1)[1] for k in env.sources.keys(variant_key(photo.digest, ""))}
    if set(photo.files()) <= there:
        return 0
    made = variants(photo, blob(env.sources, examined.blob))
    for name, data in made.items():
        content_type = "image/webp" if name.endswith(".webp") else "image/jpeg"
        put_new(env.sources, variant_key(photo.digest, name), data, content_type=content_type)
    return len(made)


def render_issue(job: IssueJob, env: Env) -> dict[str, Any]:
    if not job.site_ok:  # a held commit waiting its turn at index: nothing to typeset
        env.queue("index").send(job.to_json())
        return {"commit": job.commit, "issue": job.issue, "typeset": 0}
    site, _data, _findings = read_site(env, job.site_blob)
    if site is None:
        raise Permanent(f"site.yml {job.site_blob} of {job.commit} does not parse")
    count = 0
    typeset_now = []
    for verdict in kept.verdicts(env.sources, job.fresh):
        if verdict.facts is not None and not verdict.typeset:
            typeset_now.append(typeset(env, verdict, job.issue, site)[0])
            count += 1
    kept.keep_verdicts(env.sources, typeset_now)  # under the same keys: worth more
    made = sum(make_variants(env, photo) for photo in kept.examined(env.sources, job.photos))
    record(env, job.commit, "render", job.issue, typeset=count, variants=made)
    env.queue("index").send(job.to_json())
    return {"commit": job.commit, "issue": job.issue, "typeset": count}
