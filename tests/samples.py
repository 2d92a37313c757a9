"""Sample files built in code (no downloads), shared by unit and integration tests."""

from __future__ import annotations

import io
import struct
import wave
import zlib

from PIL import ExifTags, Image
from pypdf import PdfWriter


def pdf_with_metadata(pages: int = 2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "Quarterly", "/Author": "Ada", "/Producer": "fileflow tests"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_text(lines: list[str]) -> bytes:
    """A minimal PDF whose one page shows ``lines`` in Helvetica."""
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"] + [f"({line}) '" for line in lines] + ["ET"]
    return one_page_pdf(b"<< /Length %d >>", "\n".join(ops).encode())


def pdf_stream_bomb(decoded_bytes: int) -> bytes:
    """A PDF whose page content inflates to ``decoded_bytes`` of text operators."""
    block = b"BT /F1 12 Tf (x) Tj ET\n" * 50_000
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(block) for _ in range(decoded_bytes // len(block) + 1)]
    stream = b"".join(parts) + compressor.flush()
    return one_page_pdf(b"<< /Length %d /Filter /FlateDecode >>", stream)


def one_page_pdf(stream_dict: bytes, stream: bytes) -> bytes:
    """A one-page PDF with a Helvetica font, the given content stream and a correct xref."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        stream_dict % len(stream) + b"\nstream\n" + stream + b"\nendstream",
        b"<< /Title (Hand made) /Producer (a text editor) >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(pdf_with_metadata(pages=3)))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(fmt: str, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "teal").save(out, fmt, **({"exif": exif} if exif else {}))
    return out.getvalue()


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    exif.get_ifd(ExifTags.IFD.Exif)[0x9003] = "2021:06:01 12:34:56"
    return exif


def png_bomb(side: int) -> bytes:
    """A valid 1-bit PNG of side x side pixels, all zero: tiny on disk, huge when decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    rows_per_block = 2000
    parts = []
    for start in range(0, side, rows_per_block):
        parts.append(compressor.compress(row * min(rows_per_block, side - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def wav(seconds: float = 1.0, rate: int = 8000, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * channels * int(rate * seconds))
    return out.getvalue()


def id3_frame(frame_id: bytes, text: bytes) -> bytes:
    body = b"\x00" + text  # encoding byte: Latin-1
    return frame_id + struct.pack(">I", len(body)) + b"\x00\x00" + body


def id3(frames: bytes, declared_size: int | None = None) -> bytes:
    size = len(frames) if declared_size is None else declared_size
    synchsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + synchsafe + frames


MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(413)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
