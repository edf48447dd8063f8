"""Autocast: inside ``with ember.autocast('cuda')`` matmul-like ops cast float32 inputs to float16."""
import functools
import warnings

__all__ = ['autocast', 'is_autocast_available', 'custom_fwd', 'custom_bwd', 'state', 'cast_inputs',
           'is_autocast_enabled', 'get_autocast_dtype']


class state:
    """What ops read: ``active`` is the one check on their fast path; ``dtypes[device_type]`` the target dtype."""
    active = False
    dtypes = {}


def is_autocast_available(device_type):
    return device_type in ('cuda', 'cpu')


def is_autocast_enabled(device_type=None):
    if device_type is None:
        return 'cuda' in state.dtypes
    return device_type in state.dtypes


def get_autocast_dtype(device_type):
    from .._dtype import float16
    return state.dtypes.get(device_type, float16)


def _is_bf16(dtype):
    return dtype is not None and 'bfloat16' in str(dtype)


def cast_inputs(*tensors):
    """The tensors an op receives under autocast: float32 ones on an autocast device become its dtype (float64
    and integer tensors are left alone, as PyTorch does)."""
    out = []
    for t in tensors:
        dt = state.dtypes.get(t._device.type) if t is not None and hasattr(t, '_device') else None
        if dt is not None and not t.is_sparse and t._data.dtype.kind == 'f' and t._data.dtype.itemsize == 4:
            t = t.to(dt)
        out.append(t)
    return out


class autocast:
    """``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context manager and decorator.

    On 'cuda' (default float16) matmul, mm, bmm, linear and convolution inputs are cast to ``dtype``. ember has no
    bfloat16 (neither NumPy nor CuPy has that dtype): asking for it warns and runs in float32. On 'cpu' the default,
    bfloat16, is therefore a no-op with a warning; dtype=ember.float16 casts (slowly: NumPy's float16 matmul is not
    BLAS)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f'Expected `device_type` of type `str`, got: `{type(device_type)}`')
        device_type = device_type.split(':')[0]
        if device_type not in ('cuda', 'cpu'):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}' (ember has "
                               f"'cuda' and 'cpu')")
        self.device_type, self.fast_dtype, self._enabled = device_type, None, bool(enabled)
        self._cache_enabled = cache_enabled
        if not self._enabled:
            return
        from .._dtype import float16, to_dtype
        if device_type == 'cuda':
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling",
                              stacklevel=2)
                self._enabled = False
                return
        if dtype is None and device_type == 'cuda':
            dtype = float16
        if dtype is None or _is_bf16(dtype):
            warnings.warn(f"In {device_type} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"ember has no bfloat16 dtype (NumPy and CuPy have none), so autocast to bfloat16 runs in "
                          f"float32; pass dtype=ember.float16 to autocast to half precision.", stacklevel=2)
            self._enabled = False
            return
        dt = to_dtype(dtype)
        if dt is not float16:
            warnings.warn(f'In {device_type} autocast, but the target dtype {dt} is not supported (ember '
                          f'autocasts to float16). Disabling autocast.', stacklevel=2)
            self._enabled = False
            return
        self.fast_dtype = dt

    def __enter__(self):
        self._prev = (state.active, dict(state.dtypes))
        if self._enabled:
            state.dtypes[self.device_type] = self.fast_dtype
        else:
            state.dtypes.pop(self.device_type, None)
        state.active = bool(state.dtypes)
        return self

    def __exit__(self, *exc):
        state.active, state.dtypes = self._prev[0], self._prev[1]
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)
        return wrapper


def custom_fwd(fwd=None, *, device_type='cuda', cast_inputs=None):
    """Decorator for a custom Function's forward: with ``cast_inputs``, run it outside autocast on inputs cast to
    that dtype; without, run it under the autocast state of the call site (and remember it for backward)."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def wrapper(*args, **kwargs):
        ctx = args[0] if args else None
        if ctx is not None:
            ctx._fwd_autocast = dict(state.dtypes)
        if cast_inputs is None or device_type not in state.dtypes:
            return fwd(*args, **kwargs)
        from .._tensor import Tensor

        def cast(v):
            if isinstance(v, Tensor) and v.is_floating_point() and v.device.type == device_type:
                return v.to(cast_inputs)
            return v
        with autocast(device_type, enabled=False):
            return fwd(*[cast(a) for a in args], **{k: cast(v) for k, v in kwargs.items()})
    return wrapper


def custom_bwd(bwd=None, *, device_type='cuda'):
    """Decorator for a custom Function's backward: runs it under the autocast state its forward saw."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def wrapper(ctx, *grads):
        saved = getattr(ctx, '_fwd_autocast', None)
        if saved is None:
            return bwd(ctx, *grads)
        prev = (state.active, dict(state.dtypes))
        state.dtypes, state.active = dict(saved), bool(saved)
        try:
            return bwd(ctx, *grads)
        finally:
            state.active, state.dtypes = prev
    return wrapper
