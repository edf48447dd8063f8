"""Devices and their array modules: NumPy for 'cpu', CuPy for 'cuda' (loaded only when asked for)."""
import os as _os

import numpy as _np

__all__ = ['device', 'get_device', 'cpu']


class device:
    """A place tensors live, with the array module (``xp``) that computes there.

    Instances are interned, so ``a.device is b.device`` is the same-device test ops use. A cuda device can be named
    without CuPy or a GPU (as ``torch.device('cuda')`` can); its ``xp`` is loaded, and the GPU checked, on first use.
    """
    __slots__ = ('type', 'index', 'xp')
    _cache = {}

    def __new__(cls, type_or_str='cpu', index=None):
        if isinstance(type_or_str, device):
            return type_or_str
        if not isinstance(type_or_str, str):
            raise TypeError(f"device() expected a string like 'cpu' or 'cuda:0', got {type(type_or_str).__name__}")
        kind, _, idx = type_or_str.partition(':')
        if idx:
            if index is not None:
                raise RuntimeError(f"device string '{type_or_str}' already has an index; got index={index} too")
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError(f'Invalid device string: \'{type_or_str}\'') from None
        if kind not in ('cpu', 'cuda'):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type_or_str}")
        if kind == 'cpu':
            index = None
        elif index is None:
            index = _current_cuda_index()
        elif index < 0:
            raise RuntimeError(f'Device index must not be negative, got {index}')
        key = (kind, index)
        dev = cls._cache.get(key)
        if dev is None:
            dev = object.__new__(cls)
            dev.type, dev.index = kind, index
            if kind == 'cpu':
                dev.xp = _np
            cls._cache[key] = dev
        return dev

    def __getattr__(self, name):
        # only reached while the ``xp`` slot is unset: a cuda device's first use loads CuPy and checks the GPU
        if name != 'xp':
            raise AttributeError(name)
        xp = _load_cupy(self.index)
        self.xp = xp
        return xp

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f'{self.type}:{self.index}'

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


def _current_cuda_index():
    """CuPy's current device when CuPy is loaded (ember.cuda.set_device / ember.cuda.device), else 0."""
    import sys
    cupy = sys.modules.get('cupy')
    if cupy is None:
        return 0
    try:
        return cupy.cuda.runtime.getDevice()
    except Exception:  # no driver or no GPU: the name stays usable, its first use reports the problem
        return 0


def _load_cupy(index=0):
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError("device 'cuda' needs CuPy, which is not installed: pip install 'ember[cuda]' "
                           "(cupy-cuda12x or cupy-cuda13x to match your CUDA)") from e
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError: no driver, a driver too old for this CuPy, no GPU
        raise RuntimeError(f"device 'cuda' was requested but CUDA is not usable here ({e}); "
                           f"ember.cuda.is_available() is False") from None
    if n == 0:
        raise RuntimeError("device 'cuda' was requested but CuPy sees no GPU")
    if index is not None and index >= n:
        raise RuntimeError(f'CUDA error: invalid device ordinal (device cuda:{index} was requested but there '
                           f'{"is" if n == 1 else "are"} only {n} GPU{"" if n == 1 else "s"})')
    return cupy


cpu = device('cpu')


_default = [None]  # ember.set_default_device's choice; None: cpu


def get_device(dev):
    """Normalise None/str/device to an interned device (None means the default device: cpu unless set)."""
    if dev is None:
        return cpu if _default[0] is None else _default[0]
    if type(dev) is device:
        return dev
    if isinstance(dev, int):
        return device('cuda', dev)
    return device(dev)


def device_of_array(arr):
    """The device an array lives on, judged from its type."""
    if isinstance(arr, _np.ndarray) or isinstance(arr, _np.generic):
        return cpu
    dev_id = getattr(getattr(arr, 'device', None), 'id', 0)
    return device('cuda', dev_id)


# ---- device-agnostic helpers for op code (ops never import numpy or cupy themselves) -----------------------------

def _flag(name):
    return _os.environ.get(name, '').strip().lower() not in ('', '0', 'false', 'no', 'off')


# Value checks that need the data on the host (index bounds, probabilities in [0, 1]) cost a GPU sync per op.
# PyTorch makes them device-side asserts on cuda; ember runs them on cpu always and on cuda only when
# EMBER_CUDA_CHECKS=1 (debugging: an out-of-range index on cuda otherwise gives an unspecified value, no error).
CUDA_CHECKS = _flag('EMBER_CUDA_CHECKS')
# Fused CuPy kernels (ember/backends/cuda_kernels.py) for hot ops on cuda; EMBER_CUDA_FUSED=0 turns them off.
CUDA_FUSED = not _os.environ.get('EMBER_CUDA_FUSED', '1').strip().lower() in ('0', 'false', 'no', 'off')


def checks_values(dev):
    """Whether an op on ``dev`` should run a value check that reads its data on the host."""
    return dev.type == 'cpu' or CUDA_CHECKS


def fused(dev):
    """Whether an op on ``dev`` should use ember's fused CuPy kernels."""
    return CUDA_FUSED and dev.type == 'cuda'


def scatter_add(arr, key, values):
    """``arr[key] += values`` with repeated positions summed (numpy's add.at; cupyx.scatter_add on cuda)."""
    if isinstance(arr, _np.ndarray):
        _np.add.at(arr, key, values)
        return
    import cupyx
    if arr.dtype.name in _ATOMIC_ADD:
        cupyx.scatter_add(arr, key, _as_device(values, arr.dtype))
        return
    # no atomic add for this dtype (bool, 8/16-bit ints): accumulate in a wide copy and write back
    wide = arr.astype('float32' if arr.dtype.kind == 'f' else 'int64')
    cupyx.scatter_add(wide, key, _as_device(values, wide.dtype))
    arr[...] = (wide != 0) if arr.dtype.kind == 'b' else wide.astype(arr.dtype)


_ATOMIC_ADD = frozenset(('float16', 'float32', 'float64', 'int32', 'int64', 'uint32', 'uint64'))


def scatter_ufunc(arr, key, values, name):
    """``arr[key] = ufunc(arr[key], values)`` with repeated positions combined (NumPy's ufunc.at, for multiply,
    maximum and minimum). CuPy has no such atomics for every dtype: on cuda this runs on the host (a sync and two
    copies; scatter's multiply and scatter_reduce's prod/amax/amin are rare enough for that)."""
    if isinstance(arr, _np.ndarray):
        getattr(_np, name).at(arr, key, values)
        return
    host = arr.get()
    hkey = tuple(k.get() if hasattr(k, 'get') and not isinstance(k, slice) else k for k in key) \
        if isinstance(key, tuple) else (key.get() if hasattr(key, 'get') else key)
    getattr(_np, name).at(host, hkey, values.get() if hasattr(values, 'get') else values)
    arr.set(host)


def scatter_mul(arr, key, values):
    """``arr[key] *= values`` with repeated positions multiplied (see scatter_ufunc)."""
    scatter_ufunc(arr, key, values, 'multiply')


def _as_device(values, dtype):
    """A CuPy array (or a scalar) of ``dtype`` for the values a scatter adds."""
    if isinstance(values, (_np.ndarray, _np.generic)) or not hasattr(values, 'dtype'):
        import cupy
        return cupy.asarray(values, dtype=dtype)
    return values if values.dtype == dtype else values.astype(dtype)


def host_cast(value, dtype):
    """A Python number converted to ``dtype`` and back (the value a fill of that dtype stores), on the host."""
    return _np.asarray(value).astype(dtype).item()


def is_array_scalar(x):
    """Whether ``x`` is a 0-d result a reduction returned as a NumPy scalar (CuPy returns 0-d arrays)."""
    return isinstance(x, _np.generic)


def reshape_nocopy(arr, shape):
    """``arr`` reshaped as a view, or ValueError when that needs a copy (NumPy's reshape(copy=False); older CuPy
    has no copy argument, so there the result's address tells whether it copied)."""
    if isinstance(arr, _np.ndarray):
        return _np.reshape(arr, shape, copy=False)
    r = arr.reshape(shape)
    if arr.size and r.data.ptr != arr.data.ptr:
        raise ValueError('a view of this shape would need a copy')
    return r
