"""ember.accelerator: PyTorch's device-generic accelerator API; ember's one accelerator is CUDA (through CuPy)."""
from . import cuda as _cuda

__all__ = ['is_available', 'current_accelerator', 'device_count', 'current_device_index', 'current_device_idx',
           'set_device_index', 'set_device_idx', 'device_index', 'synchronize', 'current_stream', 'set_stream',
           'empty_cache', 'memory_allocated', 'max_memory_allocated', 'memory_reserved', 'max_memory_reserved',
           'reset_peak_memory_stats', 'get_device_capability']


def is_available():
    """Whether an accelerator (a CUDA GPU that CuPy can use) is present."""
    return _cuda.is_available()


def current_accelerator(check_available=False):
    """ember.device('cuda') when CuPy sees a GPU, else None (also None with check_available when none is usable)."""
    if not _cuda.is_available():
        return None
    from .backends import device
    return device('cuda', _cuda.current_device())


def device_count():
    return _cuda.device_count()


def _need():
    if not _cuda.is_available():
        raise RuntimeError('ember.accelerator: no accelerator is available (ember accelerates on CUDA GPUs through '
                           'CuPy)')


def current_device_index():
    _need()
    return _cuda.current_device()


current_device_idx = current_device_index


def set_device_index(device):
    _need()
    _cuda.set_device(device)


set_device_idx = set_device_index


class device_index:
    """Context manager: make ``idx`` the current accelerator device inside it (None: do nothing)."""

    def __init__(self, idx):
        self.idx, self.prev = idx, None

    def __enter__(self):
        if self.idx is not None:
            self.prev = current_device_index()
            set_device_index(self.idx)
        return self

    def __exit__(self, *exc):
        if self.prev is not None:
            set_device_index(self.prev)
        return False


def synchronize(device=None):
    _need()
    _cuda.synchronize(device)


def current_stream(device=None):
    _need()
    return _cuda.current_stream(device)


def set_stream(stream):
    _need()
    stream._stream.use()


def empty_cache():
    if _cuda.is_available():
        _cuda.empty_cache()


def memory_allocated(device=None):
    return _cuda.memory_allocated(device) if _cuda.is_available() else 0


def max_memory_allocated(device=None):
    return _cuda.max_memory_allocated(device) if _cuda.is_available() else 0


def memory_reserved(device=None):
    return _cuda.memory_reserved(device) if _cuda.is_available() else 0


max_memory_reserved = memory_reserved


def reset_peak_memory_stats(device=None):
    if _cuda.is_available():
        _cuda.reset_peak_memory_stats(device)


def get_device_capability(device=None):
    _need()
    return _cuda.get_device_capability(device)
