"""ember.nn.functional: linear ops."""
__all__ = []
