"""ember.nn layers: fold."""
__all__ = []
