"""ember.nn layers: sparse."""
__all__ = []
