"""Audio: duration, bitrate, sample rate, channels and the common tags (tinytag)."""

from __future__ import annotations

import io
from typing import Any

from tinytag import TinyTag, TinyTagException, UnsupportedFormatError

from ingestor.extractors.model import ExtractionFailed, NotThisFormat


def extract(data: bytes, mime: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    try:
        tag = TinyTag.get(file_obj=io.BytesIO(data))
    except UnsupportedFormatError as exc:
        # No audio reader recognises these bytes: the sniffed type was a weak guess.
        raise NotThisFormat(str(exc)) from exc
    except TinyTagException as exc:
        raise ExtractionFailed(f"unreadable audio tags: {exc}") from exc
    fields: dict[str, Any] = {
        "duration_s": round(tag.duration, 3) if tag.duration is not None else None,
        "bitrate_kbps": round(tag.bitrate, 1) if tag.bitrate is not None else None,
        "samplerate_hz": tag.samplerate,
        "channels": tag.channels,
        "title": tag.title,
        "artist": tag.artist,
        "album": tag.album,
        "year": tag.year,
    }
    return {key: value for key, value in fields.items() if value not in (None, "")}, ()
