"""ember.nn.functional: misc ops."""
__all__ = []
