"""Compatibility: the `ember` command moved to ember.app.cli (console scripts installed earlier name ember.cli:main)."""
from .app.cli import main  # noqa: F401
