"""Tiny images for the 平面图 tests, built with zlib and struct (no image library).

Each is a flat colour a browser decodes: the PNG, the JPEG (a grey baseline frame with one-code
Huffman tables) and the lossless WebP (VP8L); the lossy (VP8) and extended (VP8X) WebP ones are
well-formed containers whose first chunk carries the canvas size, which is what households.plans
reads, and no more.
"""

import struct
import zlib


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width=4, height=3, rgb=(200, 22, 29)) -> bytes:
    """A width × height PNG of one colour (8-bit RGB)."""
    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(row * height))
        + _png_chunk(b"IEND", b"")
    )


def _segment(marker: int, data: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(data) + 2) + data


def jpeg_bytes(width=16, height=8) -> bytes:
    """A grey baseline JPEG: one component, every block's DC difference 0 and its AC an EOB, each
    coded by the only (1-bit) code of its table."""
    blocks = -(-width // 8) * -(-height // 8)
    bits = 2 * blocks  # "0" (DC: category 0) + "0" (AC: EOB) per block
    scan = bytearray(b"\x00" * (bits // 8))
    if bits % 8:
        scan.append(0xFF >> (bits % 8))  # padded with 1 bits
    huffman = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1 for symbol 0
    return (
        b"\xff\xd8"
        + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + _segment(0xDB, b"\x00" + b"\x01" * 64)
        + _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
        + _segment(0xC4, b"\x00" + huffman)  # DC table 0
        + _segment(0xC4, b"\x10" + huffman)  # AC table 0
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + bytes(scan)
        + b"\xff\xd9"
    )


def _riff(chunk: bytes, body: bytes) -> bytes:
    payload = chunk + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def _vp8l(width, height, argb=(255, 200, 22, 29)) -> bytes:
    """A lossless bitstream of one colour: no transform, no colour cache, and five prefix codes of
    one symbol each (the pixels then take no bits at all)."""
    fields = [(width - 1, 14), (height - 1, 14), (0, 1), (0, 3), (0, 1), (0, 1), (0, 1)]
    alpha, red, green, blue = argb
    for symbol in (green, red, blue, alpha, 0):  # the green, red, blue, alpha and distance codes
        fields += [(1, 1), (0, 1), (1, 1), (symbol, 8)]  # simple code, one symbol, 8 bits of it
    value = shift = 0
    for field, size in fields:  # least significant bit first
        value |= field << shift
        shift += size
    return b"\x2f" + value.to_bytes(-(-shift // 8), "little")


def webp_bytes(width=20, height=10, kind="VP8L") -> bytes:
    """A WebP container whose first chunk (``kind``: VP8L, VP8 or VP8X) says width × height."""
    if kind == "VP8L":
        body = _vp8l(width, height)
    elif kind == "VP8":
        body = b"\x10\x02\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 10
    else:
        body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(kind.encode().ljust(4), body)


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
