"""ember.nn layers: attention."""
__all__ = []
