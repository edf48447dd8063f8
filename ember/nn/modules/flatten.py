"""ember.nn layers: flatten."""
__all__ = []
