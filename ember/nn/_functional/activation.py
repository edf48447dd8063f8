"""ember.nn.functional: activation ops."""
__all__ = []
