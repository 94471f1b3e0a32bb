"""Uploads held in memory only: a request body read under a byte limit, split into its multipart
parts, and images checked from their header before a single pixel is decoded.

Nothing here writes to disk, and nothing a client sends (a file name, a field name) is used as a
path: the body is read chunk by chunk into memory and refused (413) the moment it passes the limit,
whatever its Content-Length claimed; file names are kept only to be echoed in the response.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "BMP", "WEBP")
"""What uploads may be (gankit.data.folder reads the same), told by content, never by name."""

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"))


class UploadError(Exception):
    """A refused upload: `status` (400, 408, 413, 415, 422) and a one-line message naming the part."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Part:
    name: str          # the form field
    filename: str      # as the client sent it: echoed, never used as a path
    data: bytes


def sniff(data: bytes) -> str | None:
    """The image format the first bytes announce (PNG, JPEG, BMP, WEBP), or None."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


class _Collector:
    """python-multipart callbacks that gather every part into memory, at most `max_parts` of them."""

    def __init__(self, max_parts: int):
        self.max_parts = max_parts
        self.parts: list[tuple[dict[str, str], bytearray]] = []
        self._field, self._value = bytearray(), bytearray()
        self._headers: dict[str, str] = {}
        self._data = bytearray()

    def callbacks(self) -> dict:
        def part_begin():
            self._headers, self._data = {}, bytearray()
            if len(self.parts) >= self.max_parts:
                raise UploadError(413, f"images: more than the {self.max_parts} parts one upload may hold")

        def header_field(data, start, end):
            self._field += data[start:end]

        def header_value(data, start, end):
            self._value += data[start:end]

        def header_end():
            self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
            self._field, self._value = bytearray(), bytearray()

        def part_data(data, start, end):
            self._data += data[start:end]

        def part_end():
            self.parts.append((self._headers, self._data))

        return {"on_part_begin": part_begin, "on_header_field": header_field, "on_header_value": header_value,
                "on_header_end": header_end, "on_part_data": part_data, "on_part_end": part_end}


def _disposition(headers: dict[str, str]) -> tuple[str, str]:
    from python_multipart.multipart import parse_options_header
    kind, params = parse_options_header(headers.get("content-disposition", ""))
    if kind != b"form-data" or b"name" not in params:
        raise UploadError(400, "body: every multipart part needs a Content-Disposition: form-data; name=...")
    return (params[b"name"].decode("utf-8", "replace"),
            params.get(b"filename", b"").decode("utf-8", "replace")[:200])


async def read_parts(request, max_bytes: int, max_parts: int) -> list[Part]:
    """The multipart/form-data parts of `request`, in memory; UploadError for anything else.

    413 as soon as the body passes `max_bytes` (checked on the declared Content-Length first, then on
    the bytes that actually arrive) or holds more than `max_parts` parts; 415 for another content type;
    400 for a malformed body."""
    from python_multipart.multipart import MultipartParser, parse_options_header
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadError(415, "body: send multipart/form-data (an HTML form's file upload), "
                               f"got {kind.decode('latin-1') or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise UploadError(413, f"body: {int(declared):,} bytes, more than the {max_bytes:,} an upload may have")
    collector = _Collector(max_parts)
    parser = MultipartParser(params[b"boundary"], collector.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes:
                raise UploadError(413, f"body: more than the {max_bytes:,} bytes an upload may have")
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except Exception as e:  # python-multipart's parse errors
        raise UploadError(400, f"body: malformed multipart/form-data ({type(e).__name__})") from None
    parts = []
    for headers, data in collector.parts:
        name, filename = _disposition(headers)
        parts.append(Part(name, filename, bytes(data)))
    return parts


def files(parts: list[Part], field: str, max_images: int, also: tuple[str, ...] = ()) -> list[Part]:
    """The parts of form field `field`: at least one, at most `max_images` (413); fields other than
    `field` and those in `also` (read by the caller) are refused."""
    others = sorted({p.name for p in parts if p.name != field and p.name not in also})
    if others:
        extra = "".join(f" and '{a}'" for a in also)
        raise UploadError(422, f"{others[0]}: unknown form field (send the images as '{field}'{extra})")
    chosen = [p for p in parts if p.name == field]
    if not chosen:
        raise UploadError(422, f"{field}: no image uploaded (send one or more files as '{field}')")
    if len(chosen) > max_images:
        raise UploadError(413, f"{field}: {len(chosen)} images, more than the {max_images} one upload may hold")
    return chosen


def _label(part: Part, where: str) -> str:
    return f"{where} ({part.filename})" if part.filename else where


def _header(part: Part, where: str, max_pixels: int) -> tuple[str, tuple[int, int], str]:
    """(the part's label for messages, (width, height), mode) from the image header alone: 415 for
    content that is not PNG, JPEG, BMP or WebP, 413 over `max_pixels` (see `decode`)."""
    label = _label(part, where)
    if sniff(part.data) is None:
        raise UploadError(415, f"{label}: not a PNG, JPEG, BMP or WebP image")
    try:
        with Image.open(io.BytesIO(part.data), formats=FORMATS) as img:
            (w, h), mode = img.size, img.mode
    except Image.DecompressionBombError:
        raise UploadError(413, f"{label}: a decompression bomb (more pixels than Pillow opens)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UploadError(415, f"{label}: not a readable PNG, JPEG, BMP or WebP image ({type(e).__name__})") from None
    if w * h > max_pixels:
        raise UploadError(413, f"{label}: {w:,}x{h:,} pixels, more than the {max_pixels:,} this service decodes")
    return label, (w, h), mode


GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def decode_own_size(part: Part, where: str, max_pixels: int, channels: int | None = None,
                    scale: int = 1) -> tuple[np.ndarray, int]:
    """One uploaded image at its own size, for image-to-image runs -> (uint8 (H, W) grey or
    (H, W, 3) RGB, the channels the file itself has: 1 for grey modes, else 3).

    `channels` 1 or 3 converts to that (alpha composited on white, as `gankit translate --convert`
    does); None keeps the file's own. Refused like `decode` (415 not an image, 413 over `max_pixels`
    by its header, 422 damaged), and 413 when the output, `scale` times larger each way, would
    pass `max_pixels`: that is what a super-resolution request would make."""
    from PIL import ImageOps

    from gankit.data.folder import _to_mode
    label, (w, h), mode = _header(part, where, max_pixels)
    if w * h * scale * scale > max_pixels:
        raise UploadError(413, f"{label}: {w:,}x{h:,} pixels, whose x{scale} output ({w * scale:,}x{h * scale:,}) "
                               f"is more than the {max_pixels:,} pixels this service makes")
    own = 1 if mode in GREY_MODES else 3
    try:
        with Image.open(io.BytesIO(part.data), formats=FORMATS) as img:
            img.load()
            img = _to_mode(ImageOps.exif_transpose(img), channels or own)
            arr = np.array(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as e:
        raise UploadError(422, f"{label}: unreadable image ({type(e).__name__}: {e})") from None
    return arr, own


def decode(part: Part, where: str, channels: int, resolution: int, max_pixels: int) -> tuple[np.ndarray, str | None]:
    """One uploaded image -> uint8 (channels, resolution, resolution) and a note on what was converted.

    Refused before decoding: content that is not PNG, JPEG, BMP or WebP (415, whatever the file is
    named), an image over `max_pixels` by its header (413: a decompression bomb is a few kB of
    compressed zeros that would decode to gigabytes); refused while decoding: a truncated or damaged
    file (422). `where` names the part in messages, e.g. "images[2]"."""
    from gankit.data.folder import read_image
    label, (w, h), mode = _header(part, where, max_pixels)
    try:
        arr = read_image(io.BytesIO(part.data), channels, resolution)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as e:
        raise UploadError(422, f"{label}: unreadable image ({type(e).__name__}: {e})") from None
    notes = []
    if (w, h) != (resolution, resolution):
        notes.append(f"resized from {w}x{h} to {resolution}x{resolution}")
    if mode != ("L" if channels == 1 else "RGB"):
        notes.append(f"converted from {mode} to {'grayscale' if channels == 1 else 'RGB'}")
    return arr, ", ".join(notes) or None
