"""Server-rendered SVG charts for the ops dashboard (geometry here, markup in the template)."""
from __future__ import annotations

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 220, 36, 28, 12


def hourly_bars(hours: list[dict]) -> dict:
    """Stacked ok/failed bars per hour, with a y scale of 'nice' ticks."""
    top = max([h["ok"] + h["failed"] for h in hours] + [1])
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10**9) if top / s <= 5)
    top = -(-top // step) * step
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_LEFT) / max(len(hours), 1)
    bars = []
    for i, h in enumerate(hours):
        x = PAD_LEFT + i * slot + slot * 0.15
        ok_h = plot_h * h["ok"] / top
        fail_h = plot_h * h["failed"] / top
        base = HEIGHT - PAD_BOTTOM
        bars.append({"x": round(x, 1), "w": round(slot * 0.7, 1), "hour": h["hour"], "ok": h["ok"],
                     "failed": h["failed"], "ok_y": round(base - ok_h, 1), "ok_h": round(ok_h, 1),
                     "fail_y": round(base - ok_h - fail_h, 1), "fail_h": round(fail_h, 1),
                     "label": i % 3 == 0, "label_x": round(x + slot * 0.35, 1)})
    ticks = [{"value": v, "y": round(HEIGHT - PAD_BOTTOM - plot_h * v / top, 1)} for v in range(0, top + 1, step)]
    return {"width": WIDTH, "height": HEIGHT, "left": PAD_LEFT, "base": HEIGHT - PAD_BOTTOM, "bars": bars,
            "ticks": ticks}


def reason_bars(reasons: dict[str, int]) -> dict:
    """Horizontal bars, one per failure reason."""
    top = max(list(reasons.values()) + [1])
    rows = [{"reason": r, "n": n, "y": 8 + i * 26, "w": round(420 * n / top, 1)} for i, (r, n) in
            enumerate(reasons.items())]
    return {"width": WIDTH, "height": 16 + 26 * max(len(rows), 1), "rows": rows}
