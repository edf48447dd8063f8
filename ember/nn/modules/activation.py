"""ember.nn layers: activation."""
__all__ = []
