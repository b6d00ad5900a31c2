"""Copy a GIF block by block, keeping every frame as it is and dropping its metadata.

Kept: the header, the screen descriptor and colour tables, graphic control extensions (delays,
transparency, disposal), the looping extension (NETSCAPE2.0 / ANIMEXTS1.0) and the image data.
Dropped: comments, plain-text blocks and every other application extension (XMP lives there).
Anything that is not a well-formed GIF raises ValueError. Streams from `src` to `dst`: the file
is never held in memory whole.
"""

from __future__ import annotations

from typing import BinaryIO

_LOOP_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def _exact(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise ValueError("truncated GIF")
    return data


def _sub_blocks(src: BinaryIO, dst: BinaryIO | None) -> None:
    """Copy (or skip, when dst is None) data sub-blocks up to and including the terminator."""
    while True:
        size = _exact(src, 1)
        if dst is not None:
            dst.write(size)
        if size == b"\x00":
            return
        data = _exact(src, size[0])
        if dst is not None:
            dst.write(data)


def _colour_table(packed: int) -> int:
    return 3 * (2 ** ((packed & 7) + 1)) if packed & 0x80 else 0


def strip_gif(src: BinaryIO, dst: BinaryIO) -> int:
    """Copy `src` to `dst` without metadata; returns the number of frames copied."""
    header = _exact(src, 6)
    if header not in (b"GIF87a", b"GIF89a"):
        raise ValueError("not a GIF")
    screen = _exact(src, 7)
    dst.write(header + screen + _exact(src, _colour_table(screen[4])))
    frames = 0
    while True:
        intro = _exact(src, 1)
        if intro == b"\x3b":  # trailer; anything after it is dropped
            dst.write(intro)
            return frames
        if intro == b"\x2c":  # image descriptor, local colour table, LZW size, data
            descriptor = _exact(src, 9)
            dst.write(intro + descriptor + _exact(src, _colour_table(descriptor[8])) + _exact(src, 1))
            _sub_blocks(src, dst)
            frames += 1
        elif intro == b"\x21":
            label = _exact(src, 1)
            if label == b"\xf9":  # graphic control
                dst.write(intro + label)
                _sub_blocks(src, dst)
            elif label == b"\xff":
                size = _exact(src, 1)
                ident = _exact(src, size[0])
                if ident in _LOOP_APPS:
                    dst.write(intro + label + size + ident)
                    _sub_blocks(src, dst)
                else:
                    _sub_blocks(src, None)
            else:  # comment, plain text, unknown extensions
                _sub_blocks(src, None)
        else:
            raise ValueError("malformed GIF block")
