"""ember.nn layers: linear."""
__all__ = []
