"""WSGI entry point: ``flask --app app …`` and ``gunicorn app:app``."""
from erhc_h5 import create_app

app = create_app()
