"""ember.cuda.amp: the older torch.cuda.amp spellings of autocast and GradScaler (deprecated there, as here)."""
import warnings

from .amp import GradScaler as _GradScaler, autocast as _autocast, custom_fwd as _custom_fwd, \
    custom_bwd as _custom_bwd

__all__ = ['autocast', 'GradScaler', 'custom_fwd', 'custom_bwd']


class autocast(_autocast):
    """``ember.cuda.amp.autocast(args...)`` is ``ember.amp.autocast('cuda', args...)``."""

    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        warnings.warn("`ember.cuda.amp.autocast(args...)` is deprecated. Please use `ember.amp.autocast('cuda', "
                      "args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__('cuda', dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    """``ember.cuda.amp.GradScaler(args...)`` is ``ember.amp.GradScaler('cuda', args...)``."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        warnings.warn("`ember.cuda.amp.GradScaler(args...)` is deprecated. Please use `ember.amp.GradScaler('cuda', "
                      "args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__('cuda', init_scale, growth_factor, backoff_factor, growth_interval, enabled)


def custom_fwd(fwd=None, *, cast_inputs=None):
    return _custom_fwd(fwd, device_type='cuda', cast_inputs=cast_inputs)


def custom_bwd(bwd=None):
    return _custom_bwd(bwd, device_type='cuda')
