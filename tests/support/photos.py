"""Photographs made for the project by code: the demo's, and the hostile ones tests need.

Nothing is downloaded. Each scene is drawn with Pillow and given grain, so it weighs what
a real photograph of its size does. ``python -m tests.support.photos`` writes the demo's
into content/.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]


def _grain(image: Image.Image, amount: int = 18, seed: int = 1) -> Image.Image:
    noise = Image.effect_noise(image.size, amount).convert("RGB")
    return Image.blend(image, noise, 0.08).filter(ImageFilter.SMOOTH)


def _sky(
    size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        f = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(round(a + (b - a) * f) for a, b in zip(top, bottom, strict=True)),
        )
    return image


def docks(size: tuple[int, int] = (1800, 1200)) -> Image.Image:
    """Dawn over a container port: cranes against the sky, stacks, water, workers."""
    rng = random.Random(412)
    width, height = size
    image = _sky(size, (40, 50, 90), (250, 170, 110))
    draw = ImageDraw.Draw(image)
    draw.ellipse([width * 0.62, height * 0.42, width * 0.72, height * 0.57], fill=(255, 210, 150))
    water = height * 0.68
    draw.rectangle([0, water, width, height], fill=(30, 45, 70))
    for _ in range(60):
        y = water + rng.random() * (height - water)
        draw.line(
            [(rng.random() * width, y), (rng.random() * width, y)], fill=(70, 90, 120), width=2
        )
    for i in range(5):
        x = width * (0.08 + i * 0.19)
        top = height * (0.18 + rng.random() * 0.1)
        draw.rectangle([x, top, x + 18, water], fill=(25, 25, 35))
        draw.rectangle([x - 120, top, x + 160, top + 16], fill=(25, 25, 35))
        draw.line([(x + 9, top), (x - 100, water - 80)], fill=(25, 25, 35), width=6)
    for _ in range(40):
        x = rng.random() * width
        w, h = rng.randint(80, 160), rng.randint(30, 60)
        y = water - h * rng.randint(1, 3)
        colour = rng.choice([(160, 60, 40), (40, 90, 140), (200, 150, 40), (60, 120, 80)])
        draw.rectangle([x, y, x + w, water], fill=colour, outline=(20, 20, 20))
    for i in range(14):
        x = width * 0.3 + i * 40
        draw.ellipse([x, water - 58, x + 16, water - 42], fill=(15, 15, 20))
        draw.rectangle([x + 2, water - 42, x + 14, water], fill=(15, 15, 20))
    return _grain(image)


def poster(size: tuple[int, int] = (1400, 1000)) -> Image.Image:
    """A rent-strike poster on a brick wall."""
    width, height = size
    image = Image.new("RGB", size, (150, 70, 55))
    draw = ImageDraw.Draw(image)
    for row, y in enumerate(range(0, height, 40)):
        for x in range(-60 if row % 2 else 0, width, 120):
            draw.rectangle([x + 3, y + 3, x + 117, y + 37], fill=(165, 80, 60))
    draw.rectangle([width * 0.2, height * 0.1, width * 0.8, height * 0.9], fill=(240, 230, 200))
    draw.rectangle([width * 0.25, height * 0.16, width * 0.75, height * 0.44], fill=(200, 30, 40))
    draw.polygon(
        [(width * 0.5, height * 0.2), (width * 0.33, height * 0.4), (width * 0.67, height * 0.4)],
        fill=(240, 230, 200),
    )
    for i in range(6):
        y = height * (0.52 + i * 0.06)
        draw.rectangle(
            [width * 0.28, y, width * (0.72 - (i % 3) * 0.06), y + 22], fill=(30, 30, 30)
        )
    return image.filter(ImageFilter.SMOOTH)


def warehouse(size: tuple[int, int] = (2000, 1333)) -> Image.Image:
    """Racks running into the distance under hot lights."""
    width, height = size
    image = _sky(size, (90, 80, 60), (200, 170, 120))
    draw = ImageDraw.Draw(image)
    cx, cy = width / 2, height * 0.45
    for side in (-1, 1):
        for i in range(12):
            near = width * (0.5 + side * (0.48 - i * 0.035))
            draw.line([(near, height), (cx + side * 30, cy)], fill=(60, 50, 40), width=8 - i // 2)
        for level in range(5):
            y = height * (0.25 + level * 0.15)
            draw.line(
                [(cx + side * width * 0.5, y), (cx + side * 30, cy)], fill=(200, 90, 30), width=10
            )
    for i in range(6):
        x = width * (0.1 + i * 0.16)
        draw.ellipse([x, 20, x + 60, 60], fill=(255, 250, 210))
    return _grain(image, 20)


def library(size: tuple[int, int] = (1200, 900)) -> Image.Image:
    """Shelves of books, a reading table."""
    rng = random.Random(411)
    width, height = size
    image = Image.new("RGB", size, (120, 85, 55))
    draw = ImageDraw.Draw(image)
    for shelf in range(5):
        y = 40 + shelf * 150
        draw.rectangle([20, y + 120, width - 20, y + 135], fill=(80, 55, 35))
        x = 30
        while x < width - 40:
            w = rng.randint(14, 34)
            h = rng.randint(80, 118)
            colour = (rng.randint(40, 220), rng.randint(30, 160), rng.randint(30, 140))
            draw.rectangle([x, y + 120 - h, x + w, y + 120], fill=colour, outline=(30, 20, 10))
            x += w + 2
    draw.rectangle([0, height * 0.82, width, height], fill=(150, 110, 70))
    return _grain(image, 15)


def jpeg(image: Image.Image, *, exif: Any = None, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def camera_exif(orientation: int = 1) -> Image.Exif:
    """What a phone writes: its make and model, the time, and where it stood."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Fairphone"
    exif[ExifTags.Base.Model] = "FP5"
    exif[ExifTags.Base.DateTime] = "2025:07:24 05:42:10"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 54.0, 12.5),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (4.0, 19.0, 33.2),
    }
    return exif


def demo() -> dict[str, bytes]:
    """The demo's photographs by their place in content/."""
    warehouse_sideways = warehouse().transpose(Image.Transpose.ROTATE_90)
    png = io.BytesIO()
    poster().save(png, "PNG", optimize=True)
    webp = io.BytesIO()
    library().save(webp, "WEBP", quality=80)
    return {
        # A phone's photograph: camera, time and the docks' GPS position in its EXIF.
        "issues/412/media/dockworkers-at-dawn.jpg": jpeg(docks(), exif=camera_exif()),
        "issues/412/media/rent-strike-poster.png": png.getvalue(),
        # Stored on its side with EXIF orientation 6, as phones store portrait shots.
        "issues/412/media/warehouse-racks.jpg": jpeg(warehouse_sideways, exif=camera_exif(6)),
        "issues/411/media/reading-room.webp": webp.getvalue(),
    }


if __name__ == "__main__":
    for path, data in demo().items():
        target = ROOT / "content" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{target.relative_to(ROOT)}  {len(data) // 1024} KB")
