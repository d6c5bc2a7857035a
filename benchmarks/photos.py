"""Photograph figures: what a reader downloads for an article with a lead photograph,
and what making the variants of a 12-megapixel phone photograph costs."""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from broadsheet.build.full import build_site
from broadsheet.content import photo
from broadsheet.content.photo import examine, variants

ROOT = Path(__file__).resolve().parent.parent
NOW_ISO = "2026-01-01T00:00:00+00:00"


def twelve_megapixels() -> bytes:
    """A 4000 × 3000 JPEG with a phone's detail and noise (not a flat drawing)."""
    grain = Image.effect_noise((4000, 3000), 60)
    gradient = Image.linear_gradient("L").resize((4000, 3000))
    blurred = grain.filter(ImageFilter.GaussianBlur(3))
    image = Image.merge("RGB", [grain, gradient, blurred])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def variants_cpu(runs: int = 5) -> dict[str, Any]:
    data = twelve_megapixels()
    samples = []
    for _ in range(runs):
        photo._made.cache_clear()
        started = time.process_time()
        examined = examine("media/phone.jpg", data)
        made = variants(examined, data)
        samples.append(time.process_time() - started)
    return {
        "source_kb": len(data) // 1024,
        "variants": len(made),
        "cpu_s_median": round(statistics.median(samples), 2),
        "cpu_s_runs": [round(s, 2) for s in samples],
    }


def article_weight() -> dict[str, Any]:
    """The demo's article with a lead photograph, as a phone downloads it."""
    import datetime as dt

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        build_site(ROOT / "content", out, now=dt.datetime.fromisoformat(NOW_ISO), workers=1)
        page = out / "en/issues/412/dockworkers-vote-to-strike/index.html"
        css = next(out.glob("assets/site.*.css"))
        lead_960 = next(out.glob("media/412/dockworkers-at-dawn.*.960.jpg"))
        lead_960_webp = next(out.glob("media/412/dockworkers-at-dawn.*.960.webp"))
        return {
            "html_kb": round(page.stat().st_size / 1024, 1),
            "css_kb": round(css.stat().st_size / 1024, 1),
            "html_and_css_kb": round((page.stat().st_size + css.stat().st_size) / 1024, 1),
            "lead_960_jpg_kb": round(lead_960.stat().st_size / 1024, 1),
            "lead_960_webp_kb": round(lead_960_webp.stat().st_size / 1024, 1),
        }


if __name__ == "__main__":
    import json

    print(json.dumps({"weight": article_weight(), "variants": variants_cpu()}, indent=1))
