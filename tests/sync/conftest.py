"""Sync fixtures: the ``chain`` (a live sandbox province over a fresh database) is in tests/conftest.py."""
