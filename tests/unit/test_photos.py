"""Photographs: what a reader downloads carries none of what the photographer's phone
wrote, stands upright, is never upscaled, and is the same bytes wherever it is made."""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from broadsheet.build.full import build_site
from broadsheet.content import photo
from broadsheet.content.photo import examine, variants
from tests.conftest import CONTENT, NOW

DOCKS = CONTENT / "issues/412/media/dockworkers-at-dawn.jpg"
WAREHOUSE = CONTENT / "issues/412/media/warehouse-racks.jpg"
READING = CONTENT / "issues/411/media/reading-room.webp"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_site(CONTENT, out, now=NOW, workers=1)
    return out


def test_the_demo_photograph_carries_a_gps_position_and_no_variant_does(site: Path) -> None:
    original = Image.open(DOCKS)
    assert original.getexif().get_ifd(0x8825)  # the GPS IFD: the photographer's place
    variants_ = sorted((site / "media/412").glob("dockworkers-at-dawn.*"))
    assert len(variants_) == 9
    for path in variants_:
        data = path.read_bytes()
        for telltale in (b"Exif", b"GPS", b"Fairphone", b"FP5", b"ICC_PROFILE", b"XMP"):
            assert telltale not in data, (path.name, telltale)
        with Image.open(path) as image:
            assert not image.getexif()
            assert "exif" not in image.info and "icc_profile" not in image.info


def test_a_photograph_stored_on_its_side_is_published_upright() -> None:
    with Image.open(WAREHOUSE) as stored:
        assert stored.width < stored.height and stored.getexif()[0x0112] == 6
    examined = examine("media/warehouse-racks.jpg", WAREHOUSE.read_bytes())
    assert (examined.width, examined.height) == (2000, 1333)
    made = variants(examined, WAREHOUSE.read_bytes())
    with Image.open(io.BytesIO(made[examined.file("960", "jpg")])) as variant:
        assert variant.size == (960, 640)


def test_a_photograph_is_never_upscaled() -> None:
    examined = examine("media/reading-room.webp", READING.read_bytes())
    assert examined.widths() == [480, 960, 1200]
    assert examined.format == "webp"


def test_variants_are_the_same_bytes_every_time() -> None:
    data = DOCKS.read_bytes()
    examined = examine("media/dockworkers-at-dawn.jpg", data)
    first = variants(examined, data)
    photo._MADE.clear()
    assert variants(examined, data) == first


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_a_finding_never_an_allocation() -> None:
    found = examine("media/bomb.png", _png_claiming(100_000, 100_000))
    assert found.problem == "has more pixels than a photograph may (a decompression bomb?)"
    found = examine("media/big.png", _png_claiming(9_000, 9_000))
    assert found.problem is not None and "9000 × 9000 pixels" in found.problem


def test_a_file_over_the_limit_is_refused_unread() -> None:
    found = examine("media/huge.jpg", b"\xff\xd8" + b"\0" * (photo.MAX_BYTES + 1))
    assert found.problem is not None and "at most 25 MB" in found.problem


def test_an_article_page_shows_its_photographs_as_the_web_expects(site: Path) -> None:
    page = (site / "en/issues/412/dockworkers-vote-to-strike/index.html").read_text()
    [lead] = re.findall(r"<figure class=\"photo\">.*?</figure>", page, re.S)
    assert 'sizes="(min-width: 44rem) 42rem, 100vw"' in lead
    assert 'width="1600" height="1067"' in lead
    assert 'fetchpriority="high"' in lead and 'loading="lazy"' not in lead
    assert "<figcaption>The terminal at first light" in lead and 'class="credit"' in lead
    assert re.search(r'<source type="image/webp" srcset="[^"]+480w, [^"]+960w, [^"]+1600w"', lead)
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    assert re.search(r'<meta property="og:image" content="https://[^"]+\.16x9\.jpg">', page)
    assert '<meta property="og:image:width" content="1200">' in page
    json_ld = json.loads(re.search(r"ld\+json\">(.*?)</script>", page).group(1))  # type: ignore[union-attr]
    assert [u.rsplit(".", 2)[1] for u in json_ld["image"]] == ["16x9", "4x3", "1x1"]
    body = (site / "en/issues/412/rent-strike-enters-third-month/index.html").read_text()
    [figure] = re.findall(r"<figure class=\"photo\">.*?</figure>", body, re.S)
    assert 'loading="lazy"' in figure and 'alt="A red poster with a white house' in figure
    assert "<!--photo" not in body


def test_the_front_page_shows_the_lead_and_the_feed_carries_it(site: Path) -> None:
    front = (site / "en/issues/412/index.html").read_text()
    lead = front.split('<div class="lead">', 1)[1].split("</div>", 1)[0]
    assert "dockworkers-at-dawn" in lead or "<picture>" not in lead
    feed = (site / "en/feed.xml").read_text()
    assert re.search(
        r'<link rel="enclosure" type="image/jpeg" href="[^"]+dockworkers-at-dawn', feed
    )


def test_a_translation_of_an_article_refused_for_its_photograph_waits_too(
    tmp_path: Path,
) -> None:
    """Found by the convergence oracle: the original fell to an issue-level check (its
    photograph), yet its translation went out alone, pointing at nothing."""
    import shutil

    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    original = content / "issues/412/dockworkers-vote-to-strike.md"
    original.write_text(
        original.read_text().replace("media/dockworkers-at-dawn.jpg", "media/gone.jpg")
    )
    (content / "issues/412/huelga-portuaria.md").write_text(
        "---\ntitle: Huelga portuaria\nlanguage: es\ndate: 2025-07-24\n"
        "dateline: Róterdam (Países Bajos)\ntranslation_of: dockworkers-vote-to-strike\n---\n\n"
        "Los estibadores votaron la huelga.\n",
        encoding="utf-8",
    )
    report = build_site(content, tmp_path / "out", now=NOW, workers=1)
    messages = {f.path.rsplit("/", 1)[-1]: f.message for f in report.findings}
    assert "no file media/gone.jpg" in messages["dockworkers-vote-to-strike.md"]
    assert "has errors of its own" in messages["huelga-portuaria.md"]
    assert not (tmp_path / "out/es/issues/412/huelga-portuaria").exists()


def test_one_photograph_under_two_names_is_published_under_both(tmp_path: Path) -> None:
    """Found by an adversary: the build kept variants by bytes alone and crashed."""
    from tests.unit.test_pipeline import Stack

    stack = Stack(tmp_path)
    stack.publish()
    media = stack.repo.content / "issues/412/media"
    data = (media / "dockworkers-at-dawn.jpg").read_bytes()
    (media / "same-dawn.jpg").write_bytes(data)
    stack.repo.write(
        "issues/412/twice.md",
        "---\ntitle: Twice\nlanguage: en\ndate: 2025-07-25\ndateline: Genoa (Italy)\n"
        "image:\n  src: media/same-dawn.jpg\n  alt: Cranes at dawn\n---\n\n"
        "Body.\n\n![Cranes again](media/dockworkers-at-dawn.jpg)\n",
    )
    stack.repo.commit("the same photograph twice")
    stack.publish()
    stack.assert_is_the_full_build()
    names = {
        k.rsplit("/", 1)[-1].split(".")[0] for k in stack.published() if k.startswith("media/412/")
    }
    assert {"same-dawn", "dockworkers-at-dawn"} <= names
