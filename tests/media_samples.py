"""Small files of every kind the media tests need, made on the spot (Pillow writes the images)."""

from __future__ import annotations

import io
import struct
import wave

from PIL import Image


def image(fmt: str = "PNG", size: tuple[int, int] = (8, 6), colour=(200, 10, 10), mode: str = "RGB", **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


def animated(fmt: str = "GIF", frames: int = 4, size: tuple[int, int] = (10, 8), **save) -> bytes:
    shades = [Image.new("RGB", size, (40 * i % 256, 255 - 30 * i % 256, 90)) for i in range(frames)]
    out = io.BytesIO()
    shades[0].save(out, fmt, save_all=True, append_images=shades[1:], duration=[70 + 10 * i for i in range(frames)],
                   loop=0, **save)
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (40, 20), orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SpyCam"
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 30)).save(out, "JPEG", exif=exif.tobytes(),
                                               xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SecretXMP</x:xmpmeta>')
    return out.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims width x height pixels, with a tiny (wrong) body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        import zlib
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    import zlib
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4() -> bytes:
    return _box(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41") + _box(b"free", b"") + _box(b"mdat", b"\0" * 32)


def webm() -> bytes:
    body = (b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"
            b"\x42\x87\x81\x04\x42\x85\x81\x02")
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67\x01" + b"\0" * 7


def mp3() -> bytes:
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + (b"\xff\xfb\x90\x64" + b"\0" * 413) * 3


def ogg() -> bytes:
    return b"OggS\x00\x02" + b"\0" * 16 + b"\x01\x1e\x01vorbis" + b"\0" * 23


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
TEXT = b"just some text\n"
