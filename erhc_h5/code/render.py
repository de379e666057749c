"""Fast QR rendering: a fixed version/ECC/mask layout computed once, then PNG (zlib) or SVG output.

The generic path of the ``qrcode`` package builds the whole symbol eight times to choose a mask and
then draws it box by box. Our codes always have the same shape (≤ 106 bytes → version 6 at ECC M),
so the function patterns, the format bits, the mask and the order of data modules are computed once;
each code then needs only its Reed-Solomon codewords (``qrcode.util.create_data``) and bit flips.
"""
from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

from qrcode import QRCode, util
from qrcode.constants import ERROR_CORRECT_M

VERSION = 6
ERROR_CORRECTION = ERROR_CORRECT_M
MASK = 2  # any mask is valid (ISO 18004 §7.8); a fixed one keeps rendering O(data)
BORDER = 4
MAX_BYTES = 106  # byte-mode capacity of version 6-M


@dataclass(frozen=True)
class Layout:
    """The blank symbol with function patterns and masked empty data, and the data module order."""

    size: int
    base: tuple[tuple[bool, ...], ...]
    positions: tuple[tuple[int, int], ...]


@lru_cache(maxsize=4)
def layout(version: int = VERSION, error_correction: int = ERROR_CORRECTION, mask: int = MASK) -> Layout:
    """Compute the layout once per (version, ECC, mask)."""
    qr = QRCode(version=version, error_correction=error_correction, mask_pattern=mask, border=0)
    qr.add_data(b"", optimize=0)
    qr.make(fit=False)
    size = qr.modules_count
    # Data modules are the ones left unset by the function patterns; walk them in placement order.
    blank = QRCode(version=version, error_correction=error_correction, mask_pattern=mask, border=0)
    blank.modules_count = size
    blank.modules = [[None] * size for _ in range(size)]
    blank.setup_position_probe_pattern(0, 0)
    blank.setup_position_probe_pattern(size - 7, 0)
    blank.setup_position_probe_pattern(0, size - 7)
    blank.setup_position_adjust_pattern()
    blank.setup_timing_pattern()
    blank.setup_type_info(False, mask)
    if version >= 7:
        blank.setup_type_number(False)
    positions = []
    row, inc = size - 1, -1
    for col in range(size - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if blank.modules[row][c] is None:
                    positions.append((row, c))
            row += inc
            if row < 0 or row >= size:
                row -= inc
                inc = -inc
                break
    # Masked "all data bits zero" symbol: function patterns plus the mask's dark modules.
    mask_func = util.mask_func(mask)
    base = [[bool(blank.modules[r][c]) for c in range(size)] for r in range(size)]
    for r, c in positions:
        base[r][c] = bool(mask_func(r, c))
    return Layout(size, tuple(tuple(row_) for row_ in base), tuple(positions))


def matrix(text: str) -> list[list[bool]]:
    """The module matrix (True = dark) of ``text`` in byte mode, without the quiet zone."""
    data = text.encode("utf-8")
    if len(data) > MAX_BYTES:
        raise ValueError(f"QR text too long for version {VERSION}-M: {len(data)} bytes")
    lay = layout()
    codewords = util.create_data(VERSION, ERROR_CORRECTION, [util.QRData(data, mode=util.MODE_8BIT_BYTE)])
    modules = [list(row) for row in lay.base]
    positions = lay.positions
    index = 0
    for byte in codewords:
        if byte:
            for bit in range(8):
                if byte & (0x80 >> bit):
                    r, c = positions[index + bit]
                    modules[r][c] = not modules[r][c]
        index += 8
    return modules


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(modules: list[list[bool]], scale: int = 8, border: int = BORDER) -> bytes:
    """A 1-bit greyscale PNG, each module ``scale`` pixels square, with a ``border``-module quiet zone."""
    size = len(modules) + 2 * border
    width = size * scale
    ones = (1 << scale) - 1
    quiet = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte 0 + a white row
    rows = [quiet * (border * scale)]
    pad = (-width) % 8
    for row in modules:
        bits = 0
        for _ in range(border):
            bits = (bits << scale) | ones
        for dark in row:
            bits = (bits << scale) | (0 if dark else ones)
        for _ in range(border):
            bits = (bits << scale) | ones
        line = b"\x00" + ((bits << pad) | ((1 << pad) - 1)).to_bytes((width + 7) // 8, "big")
        rows.append(line * scale)
    rows.append(quiet * (border * scale))
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + _chunk(b"IEND", b""))


def svg(modules: list[list[bool]], border: int = BORDER) -> str:
    """An SVG with one path of horizontal runs (crisp at any size)."""
    size = len(modules) + 2 * border
    parts = []
    for r, row in enumerate(modules):
        c, n = 0, len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                parts.append(f"M{start + border} {r + border}h{c - start}v1h-{c - start}z")
            else:
                c += 1
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{"".join(parts)}" fill="#000"/></svg>')


def png_data_uri(text: str, scale: int = 8) -> str:
    """The code as a ``data:image/png;base64,…`` URI (for an <img> and for the refresh JSON)."""
    return "data:image/png;base64," + base64.b64encode(png(matrix(text), scale)).decode("ascii")
