"""Per-IP limits on the journey's POST routes (Flask-Limiter; disabled in the other tests)."""
from __future__ import annotations

from erhc_h5.db import get_db
from tests.support import make_app


def test_verify_posts_are_limited_per_ip_in_chinese(_session_db):
    app = make_app(_session_db, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    try:
        client = app.test_client()
        statuses = [client.post("/h5/verify/two-factor").status_code for _ in range(21)]
        assert statuses[:20] == [302] * 20 and statuses[20] == 429
        limited = client.post("/h5/verify/two-factor")
        assert "操作过于频繁" in limited.get_data(as_text=True) and limited.headers.get("Retry-After")
        other_ip = client.post("/h5/verify/two-factor", environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert other_ip.status_code == 302
    finally:
        get_db(app).engine.dispose()
