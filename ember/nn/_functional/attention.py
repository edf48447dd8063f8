"""ember.nn.functional: attention ops."""
__all__ = []
