"""ember.nn.functional: embedding ops."""
__all__ = []
