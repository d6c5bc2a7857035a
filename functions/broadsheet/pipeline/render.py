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
from broadsheet.pipeline.env import Env, blob, read_ahead, record, side_by_side
from broadsheet.pipeline.messages import Checked, Examined, IssueJob, body_key, variant_key
from broadsheet.pipeline.validate import read_site


def typeset(env: Env, checked: Checked, number: int, site: Site) -> tuple[Checked, str | None]:
    """The article read by the typesetter: its verdict, and its body (None when it does
    not check out under this code and site.yml), which is kept."""
    return typeset_all(env, [checked], number, site)[0]


def typeset_all(
    env: Env, articles: list[Checked], number: int, site: Site
) -> list[tuple[Checked, str | None]]:
    """``typeset`` for each of ``articles``: their files fetched side by side, typeset in
    turn, their bodies kept side by side."""
    read = read_ahead(env, [checked.blob for checked in articles])
    done = [
        desk.check_article(c.path, "100644", c.blob, read, number, site, c.version, typeset=True)
        for c in articles
    ]
    bodies = [(checked.blob, html) for checked, html in done if html is not None]
    side_by_side(
        env.workers,
        lambda item: put_new(
            env.sources,
            body_key(code_version(), item[0]),
            item[1].encode(),
            content_type="text/html; charset=utf-8",
        ),
        bodies,
    )
    return done


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
    fresh = kept.verdicts(env.sources, job.fresh, env.workers)
    todo = [v for v in desk.judged(fresh, site) if v.facts is not None and not v.typeset]
    typeset_now = [verdict for verdict, _ in typeset_all(env, todo, job.issue, site)]
    count = len(typeset_now)
    # Under the same keys: worth more.
    kept.keep_verdicts(env.sources, typeset_now, env.workers)
    photos = kept.examined(env.sources, job.photos, env.workers)
    made = sum(make_variants(env, photo) for photo in photos)
    record(env, job.commit, "render", job.issue, typeset=count, variants=made)
    env.queue("index").send(job.to_json())
    return {"commit": job.commit, "issue": job.issue, "typeset": count}
