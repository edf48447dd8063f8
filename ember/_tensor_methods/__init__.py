"""ember.Tensor's methods, one mixin per op family (assembled in ember/_tensor.py; see DEVELOPING.md)."""
