"""Devices and their array modules: NumPy for 'cpu', CuPy for 'cuda' (loaded only when asked for)."""
import numpy as _np

__all__ = ['device', 'get_device', 'cpu']


class device:
    """A place tensors live, with the array module (``xp``) that computes there.

    Instances are interned, so ``a.device is b.device`` is the same-device test ops use.
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
            index = int(idx)
        if kind not in ('cpu', 'cuda'):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type_or_str}")
        if kind == 'cpu':
            index = None
        elif index is None:
            index = _current_cuda_index()
        key = (kind, index)
        dev = cls._cache.get(key)
        if dev is None:
            dev = object.__new__(cls)
            dev.type, dev.index = kind, index
            dev.xp = _np if kind == 'cpu' else _load_cupy()
            cls._cache[key] = dev
        return dev

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
    return 0


def _load_cupy():
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError("device 'cuda' needs CuPy, which is not installed: pip install 'ember[cuda]' "
                           "(cupy-cuda12x or cupy-cuda13x to match your CUDA)") from e
    if cupy.cuda.runtime.getDeviceCount() == 0:
        raise RuntimeError("device 'cuda' was requested but CuPy sees no GPU")
    return cupy


cpu = device('cpu')


def get_device(dev):
    """Normalise None/str/device to an interned device (None means cpu)."""
    if dev is None:
        return cpu
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
