"""ember.nn.functional: dropout ops."""
__all__ = []
