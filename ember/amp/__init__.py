"""ember.amp: automatic mixed precision — autocast (float16 on cuda) and GradScaler, as torch.amp."""
from .autocast_mode import (autocast, is_autocast_available, custom_fwd, custom_bwd,  # noqa: F401
                            is_autocast_enabled, get_autocast_dtype)
from .grad_scaler import GradScaler  # noqa: F401

__all__ = ['autocast', 'GradScaler', 'is_autocast_available', 'custom_fwd', 'custom_bwd', 'is_autocast_enabled',
           'get_autocast_dtype']
