"""ember.nn layers: loss."""
__all__ = []
