"""ember.nn layers: module."""
__all__ = []
