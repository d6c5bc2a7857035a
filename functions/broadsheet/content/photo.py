"""Photographs: a file under an issue's ``media/`` examined, and the variants readers get.

A photograph is judged by decoding it, never by its extension: a PNG named ``.jpg`` is
accepted as the PNG it is. What a reader downloads is always made anew from its pixels,
turned upright first, so no EXIF, GPS or other metadata of the original survives: a
photographer's location never reaches a reader.

Variants are a pure function of the bytes and of ``SPEC``: made once per image, named by
a hash of both, the same bytes wherever they are made (the full build, the pipeline).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # a photograph's name, like a slug
MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 8,000 × 5,000: beyond it, a decompression bomb or a scan
LEAD_MIN_WIDTH = 1200  # Google's guidance for an article's image
MAX_ALT = 250
FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}  # decoded format -> name
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
WIDTHS = (480, 960, 1600)  # never more than the original's width
CROPS = {"16x9": (16, 9), "4x3": (4, 3), "1x1": (1, 1)}  # for search engines and cards
CROP_WIDTH = 1200
# Bump when variants change (sizes, quality, encoder settings): every name changes with it.
SPEC = "photo-1: 480/960/1600 webp q75 m4, jpeg q80 progressive; crops 1200"
JPEG = {"quality": 80, "progressive": True, "optimize": True}
WEBP = {"quality": 75, "method": 4}


@dataclass(frozen=True)
class Photo:
    """What examining one media file found."""

    name: str  # relative to the issue folder: media/dockers.jpg
    digest: str  # names its variants: the bytes and SPEC
    format: str  # jpeg, png, webp; "" when it is not a photograph
    width: int  # upright, as readers see it
    height: int
    problem: str | None = None  # why it cannot be published

    @property
    def stem(self) -> str:
        return self.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]

    def widths(self) -> list[int]:
        """The widths of its variants: the standard ones it can fill, or its own."""
        return sorted({min(w, self.width) for w in WIDTHS}) if self.width else []

    def file(self, size: str, extension: str) -> str:
        """A variant's file name: ``dockers.1a2b3c4d5e6f.960.webp``."""
        return f"{self.stem}.{self.digest}.{size}.{extension}"

    def files(self) -> list[str]:
        found = [self.file(str(w), e) for w in self.widths() for e in ("webp", "jpg")]
        return found + [self.file(c, "jpg") for c in CROPS]

    def size(self, width: int) -> tuple[int, int]:
        """A variant's width and height in pixels."""
        return width, max(1, round(self.height * width / self.width))

    def crop_size(self, crop: str) -> tuple[int, int]:
        across, down = CROPS[crop]
        left, _top, right, _bottom = _centre(self.width, self.height, across, down)
        width = min(CROP_WIDTH, right - left)
        return width, round(width * down / across)

    def facts(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "problem": self.problem,
        }

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> Photo:
        return cls(**facts)


@dataclass(frozen=True)
class PhotoRef:
    """An article's use of a photograph: its lead ``image``, or one in the body."""

    src: str  # relative to the issue folder: media/dockers.jpg
    alt: str
    caption: str = ""
    credit: str = ""
    lead: bool = False
    line: int = 1  # where the reference is written, for findings
    column: int = 1

    @property
    def field(self) -> str | None:
        return "image.src" if self.lead else None

    def facts(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "alt": self.alt,
            "caption": self.caption,
            "credit": self.credit,
            "lead": self.lead,
            "line": self.line,
            "column": self.column,
        }


def src_problem(src: str) -> str | None:
    """Why a photograph's address is not one of the issue's own files, or None."""
    if src.lower().startswith(("http://", "https://", "//")):
        return (
            f"'{src[:60]}' is on another site: readers' browsers would tell it who reads "
            "what; commit the photograph in the issue's media/ folder instead"
        )
    name = src.removeprefix("media/")
    stem, _, extension = name.rpartition(".")
    if (
        not src.startswith("media/")
        or "/" in name
        or f".{extension.lower()}" not in EXTENSIONS
        or not NAME.fullmatch(stem)
    ):
        return (
            f"'{src[:60]}' is not a photograph of this issue: write media/<name>.jpg "
            "(.jpeg, .png or .webp; the name in lowercase a-z, 0-9 and hyphens) for a file "
            "in the issue's media/ folder"
        )
    return None


def alt_problem(alt: str, src: str) -> str | None:
    """Why alt text does not describe the photograph, or None."""
    text = alt.strip()
    name = src.rsplit("/", 1)[-1]
    if not text:
        return (
            "the photograph has no alt text: describe what it shows, for readers who cannot see it"
        )
    if text.lower() in {name.lower(), name.rsplit(".", 1)[0].lower()}:
        return f"the alt text '{text}' is the file's name: describe what the photograph shows"
    if len(text) > MAX_ALT:
        return f"the alt text is {len(text)} characters; at most {MAX_ALT}: keep it to what matters"
    return None


def digest(data: bytes) -> str:
    return hashlib.sha256(SPEC.encode() + b"\0" + data).hexdigest()[:12]


def _image() -> Any:
    # Imported when a photograph is met: Pillow is for the stages that see photographs.
    from PIL import Image, ImageOps

    # Pillow's own guard, well above ours: ours says how large a photograph is; Pillow's
    # stops a file whose header claims billions of pixels before anything is allocated.
    Image.MAX_IMAGE_PIXELS = 4 * MAX_PIXELS
    return Image, ImageOps


def examine(name: str, data: bytes) -> Photo:
    """Decode the file whole and say what it is, or why it cannot be published."""
    key = digest(data)

    def refused(problem: str) -> Photo:
        return Photo(name, key, "", 0, 0, problem)

    if len(data) > MAX_BYTES:
        return refused(
            f"is {len(data) / 1e6:.1f} MB; a photograph may have at most "
            f"{MAX_BYTES // (1024 * 1024)} MB: export it smaller"
        )
    image_module, _ops = _image()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            with image_module.open(io.BytesIO(data)) as image:
                kind = FORMATS.get(image.format or "")
                if kind is None:
                    return refused(
                        f"is {image.format or 'not an image'}, not a photograph in JPEG, "
                        "PNG or WebP"
                    )
                if image.width * image.height > MAX_PIXELS:
                    return refused(_too_many(image.width, image.height))
                image.load()  # the whole file: a truncated one fails here
                # Upright as readers see it, without a turned copy of every pixel.
                turned = image.getexif().get(ORIENTATION, 1) in QUARTER_TURNS
                width, height = (image.height, image.width) if turned else image.size
                return Photo(name, key, kind, width, height)
    except (image_module.DecompressionBombWarning, image_module.DecompressionBombError):
        return refused("has more pixels than a photograph may (a decompression bomb?)")
    except image_module.UnidentifiedImageError:
        return refused("is not an image that can be read: a JPEG, PNG or WebP photograph")
    except (OSError, SyntaxError, ValueError) as error:
        return refused(f"cannot be read whole ({error}): export it again")


def _too_many(width: int, height: int) -> str:
    return (
        f"is {width} × {height} pixels ({width * height / 1e6:.0f} megapixels); at most "
        f"{MAX_PIXELS / 1e6:.0f} are allowed: export it smaller"
    )


def _encode(image: Any, extension: str) -> bytes:
    out = io.BytesIO()
    if extension == "webp":
        image.save(out, "WEBP", **WEBP)
    else:
        image.save(out, "JPEG", **JPEG)
    return out.getvalue()


def variants(photo: Photo, data: bytes) -> dict[str, bytes]:
    """Every variant of a photograph by its file name: each width in WebP and JPEG, and
    the crops search engines and social cards ask for."""
    made = _MADE.pop(photo, None) or _made(photo, data)
    _MADE[photo] = made  # the newest last
    while len(_MADE) > KEPT:
        del _MADE[next(iter(_MADE))]
    return dict(made)


# A process asked twice (a build run again, a retried job) works once. Kept by the Photo
# (its digest names the bytes), never by the source: a warm container keeps no source,
# each up to MAX_BYTES, only the variants (about 1 MB a photograph).
KEPT = 8
ORIENTATION = 0x0112  # the EXIF tag
QUARTER_TURNS = {5, 6, 7, 8}  # the orientations that swap width and height
_MADE: dict[Photo, tuple[tuple[str, bytes], ...]] = {}


def _made(photo: Photo, data: bytes) -> tuple[tuple[str, bytes], ...]:
    image_module, image_ops = _image()
    # Memory (render's MemorySize is set from it): at most the decoded original, its
    # alpha and the flat copy at once, about 8 bytes a pixel (tests/unit/test_memory.py).
    with image_module.open(io.BytesIO(data)) as original:
        original.draft("RGB", (WIDTHS[-1], WIDTHS[-1]))  # decode a large JPEG smaller
        # exif_transpose copies every pixel even when there is nothing to turn.
        turned = original.getexif().get(ORIENTATION, 1) not in (1, None)
        upright = (image_ops.exif_transpose(original) or original) if turned else original
        # RGBA already: converting would copy every pixel for the same pixels.
        rgba = upright if upright.mode == "RGBA" else upright.convert("RGBA")
        if upright is not original and upright is not rgba:
            upright.close()
        # Pixels alone, on white: no EXIF, GPS, ICC profile or text chunk can come along.
        flat = image_module.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        if rgba is not original:
            rgba.close()
    made: dict[str, bytes] = {}
    for width in photo.widths():
        height = max(1, round(flat.height * width / flat.width))
        sized = flat if width == flat.width else flat.resize((width, height), image_module.LANCZOS)
        for extension in ("webp", "jpg"):
            made[photo.file(str(width), extension)] = _encode(sized, extension)
    for crop, (across, down) in CROPS.items():
        box = _centre(flat.width, flat.height, across, down)
        width = min(CROP_WIDTH, box[2] - box[0])
        cut = flat.crop(box).resize((width, round(width * down / across)), image_module.LANCZOS)
        made[photo.file(crop, "jpg")] = _encode(cut, "jpg")
    return tuple(made.items())


def _centre(width: int, height: int, across: int, down: int) -> tuple[int, int, int, int]:
    """The largest centred box of the given proportions."""
    if width * down > height * across:  # wider than wanted: trim the sides
        cut = height * across // down
        left = (width - cut) // 2
        return left, 0, left + cut, height
    cut = width * down // across
    top = (height - cut) // 2
    return 0, top, width, top + cut
