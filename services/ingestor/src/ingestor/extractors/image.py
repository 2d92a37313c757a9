"""Images: format, dimensions, EXIF date and camera (Pillow); pixels are never decoded."""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import ExifTags, Image, UnidentifiedImageError

from ingestor.extractors.model import ExtractionFailed, NotThisFormat

# Above this many pixels an image is treated as a decompression bomb.
MAX_IMAGE_PIXELS = 100_000_000
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP", "ICO")
_DATETIME_ORIGINAL = 0x9003
_MAKE = 0x010F
_MODEL = 0x0110


def extract(data: bytes, mime: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    metadata: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # verify() must come straight after open, so structure and EXIF get one open each.
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                metadata = {"format": image.format, "width": image.width, "height": image.height}
                image.verify()
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                metadata.update(_exif(image))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ExtractionFailed(f"decompression bomb: {exc}") from exc
        except UnidentifiedImageError as exc:
            # No image format recognises these bytes: the sniffed type was a weak guess.
            raise NotThisFormat(str(exc)) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ExtractionFailed(f"corrupt image: {exc}", metadata) from exc
    return metadata, ()


def _exif(image: Image.Image) -> dict[str, Any]:
    try:
        exif = image.getexif()
        fields = {
            "taken_at": exif.get_ifd(ExifTags.IFD.Exif).get(_DATETIME_ORIGINAL),
            "camera_make": exif.get(_MAKE),
            "camera_model": exif.get(_MODEL),
        }
    except Exception:  # a broken EXIF block costs the EXIF fields, not the image
        return {}
    return {key: _text(value) for key, value in fields.items() if value}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip("\x00 ")
