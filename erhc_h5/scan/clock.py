"""Whose clock a refused code points at, for the nurse.

A code is judged by this server's clock against the issuing server's timestamps; the scanner sends
no time of its own unless it chooses to (``device_time``, unix seconds; the console sends the
browser's). So two clock faults are detectable and both make "refresh the code" useless:

- this server against the province (the offset measured from upload replies, ``sync.clock``)
  beyond the code's skew tolerance: the server is off;
- the scanning device against this server beyond the tolerance, while the code's validity window
  holds on the device's clock: one of the two clocks is off, and the nurse checks hers first.

A device clock that is off while the code is stale on both clocks changes nothing in the verdict:
the refresh advice stays, with a note to set the device's time.
"""
from __future__ import annotations

import math

from erhc_h5.sync.clock import amount

CLOCK_REASONS = ("expired", "not_yet_valid")
# Unix seconds a device may plausibly send (2001–2286); anything else is ignored, not refused.
DEVICE_TIME_RANGE = (1e9, 1e10)


def device_time(value: object) -> float | None:
    """A usable device time from a request, or None (absent, not a number, out of range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or not DEVICE_TIME_RANGE[0] <= number <= DEVICE_TIME_RANGE[1]:
        return None
    return number


def hint(reason: str, window: tuple[int, int] | None, server_now: float, device_now: float | None,
         server_offset: float | None, tolerance: float) -> str | None:
    """The nurse's message when a clock is the likely cause of an expired/not-yet-valid refusal, else None."""
    if reason not in CLOCK_REASONS or window is None:
        return None
    if server_offset is not None and abs(server_offset) > tolerance:
        direction = "慢" if server_offset > 0 else "快"
        return (f"平台服务器时钟比省级平台{direction}{amount(server_offset)},此码可能并未过期,刷新码面无济于事;"
                "请联系平台运维校准服务器时间")
    if device_now is None or abs(device_now - server_now) <= tolerance:
        return None
    difference = f"本机时间与服务器相差{amount(device_now - server_now)}"
    issued_at, expires_at = window
    if issued_at - tolerance <= device_now < expires_at + tolerance:
        return (f"{difference}:此码按本机时间仍在有效期内,刷新码面无济于事。请先校准设备时间;"
                "本机时间准确时,请联系平台运维核对服务器时钟")
    return f"{difference},请校准设备时间。此码确已失效:请居民在App中刷新码面后重新出示"
