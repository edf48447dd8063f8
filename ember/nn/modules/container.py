"""ember.nn layers: container."""
__all__ = []
