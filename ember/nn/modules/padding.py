"""ember.nn layers: padding."""
__all__ = []
