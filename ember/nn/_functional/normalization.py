"""ember.nn.functional: normalization ops."""
__all__ = []
