"""QR rendering benchmark: our fixed-layout renderer vs naive ``qrcode.make(text)`` + PNG save, same run.

    .venv/bin/python bench/qr_bench.py [--seconds 3] [--scale 10]

Both sides get the same realistic ~87-character code texts and produce a PNG of the same pixel
size (box size 10, 4-module border). Prints codes/s for each, and the ratio (target ≥ 6×).
"""
from __future__ import annotations

import argparse
import io
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qrcode  # noqa: E402

from erhc_h5.code import render  # noqa: E402


def sample_texts(n: int) -> list[str]:
    return [f"EHC1.{secrets.token_hex(2)}.{secrets.token_hex(5)}.t9yx3k.t9yx4o.{secrets.token_hex(4)}."
            f"{secrets.token_urlsafe(32)[:43]}" for _ in range(n)]


def naive(text: str, scale: int) -> bytes:
    img = qrcode.make(text, box_size=scale)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def fast(text: str, scale: int) -> bytes:
    return render.png(render.matrix(text), scale=scale)


def rate(fn, texts: list[str], seconds: float, scale: int) -> float:
    fn(texts[0], scale)  # warm caches (layout, imports)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(texts[n % len(texts)], scale)
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    texts = sample_texts(500)
    assert all(len(t) <= 100 for t in texts)
    baseline = rate(naive, texts, args.seconds, args.scale)
    ours = rate(fast, texts, args.seconds, args.scale)
    svg_rate = rate(lambda t, _s: render.svg(render.matrix(t)), texts, args.seconds, args.scale)
    print(f"naive qrcode.make + PNG save : {baseline:9.1f} codes/s")
    print(f"erhc fixed layout  PNG       : {ours:9.1f} codes/s")
    print(f"erhc fixed layout  SVG       : {svg_rate:9.1f} codes/s")
    print(f"ratio PNG vs naive           : {ours / baseline:9.1f}x (target >= 6x)")


if __name__ == "__main__":
    main()
