"""WSGI entry for the scan load benchmark: the real app plus one bare endpoint as the ceiling."""
from __future__ import annotations

from erhc_h5 import create_app

app = create_app()


@app.get("/bench/bare")
def bare():
    """Same app, same hooks and headers, no work: the ceiling the scan API is compared with."""
    return {"ok": True}
