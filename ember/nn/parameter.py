"""Parameter: a Tensor that a Module registers as learnable."""
__all__ = ['Parameter', 'Buffer', 'UninitializedParameter']
Parameter = Buffer = UninitializedParameter = None  # filled in by the nn-core work
