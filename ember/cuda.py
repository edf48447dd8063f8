"""ember.cuda: CUDA devices through CuPy — availability, device selection, sync, RNG seeds, memory stats, events, streams."""
import contextlib

_cupy = None


def _cp():
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError:
            raise RuntimeError("ember.cuda needs CuPy: pip install 'ember[cuda]' (cupy-cuda12x or cupy-cuda13x "
                               "matching your driver)") from None
        _cupy = cupy
    return _cupy


def is_available():
    try:
        return _cp().cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def device_count():
    try:
        return _cp().cuda.runtime.getDeviceCount()
    except Exception:
        return 0


def is_initialized():
    return _cupy is not None


def init():
    _cp()


def current_device():
    return _cp().cuda.runtime.getDevice()


def set_device(device):
    from .backends import get_device
    idx = device if isinstance(device, int) else get_device(device).index
    _cp().cuda.runtime.setDevice(idx)


def get_device_name(device=None):
    props = get_device_properties(device)
    return props.name


class _Props:
    def __init__(self, raw):
        name = raw['name']
        self.name = name.decode() if isinstance(name, bytes) else name
        self.total_memory = raw['totalGlobalMem']
        self.major, self.minor = raw['major'], raw['minor']
        self.multi_processor_count = raw['multiProcessorCount']

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // 2**20}MB, multi_processor_count={self.multi_processor_count})")


def get_device_properties(device=None):
    idx = current_device() if device is None else (device if isinstance(device, int) else device.index or 0)
    return _Props(_cp().cuda.runtime.getDeviceProperties(idx))


def get_device_capability(device=None):
    p = get_device_properties(device)
    return p.major, p.minor


class device:
    """Context manager that makes ``idx`` the current CUDA device inside it."""

    def __init__(self, idx):
        self.idx = idx if isinstance(idx, int) else getattr(idx, 'index', 0) or 0
        self._ctx = None

    def __enter__(self):
        self._ctx = _cp().cuda.Device(self.idx)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def synchronize(device=None):
    _cp().cuda.Device(device if isinstance(device, int) else current_device()).synchronize()


def manual_seed(seed):
    from .backends.random import generator_for, _cuda_generators, Generator
    from .backends import get_device
    dev = get_device('cuda')
    g = _cuda_generators.get(dev)
    if g is None:
        g = _cuda_generators[dev] = Generator(dev)
    g.manual_seed(seed)


def manual_seed_all(seed):
    for i in range(device_count()):
        from .backends.random import _cuda_generators, Generator
        from .backends import get_device
        dev = get_device(f'cuda:{i}')
        g = _cuda_generators.get(dev)
        if g is None:
            g = _cuda_generators[dev] = Generator(dev)
        g.manual_seed(seed)


def memory_allocated(device=None):
    return _cp().get_default_memory_pool().used_bytes()


_peak = {'bytes': 0}


def max_memory_allocated(device=None):
    _peak['bytes'] = max(_peak['bytes'], memory_allocated(device))
    return _peak['bytes']


def reset_peak_memory_stats(device=None):
    _peak['bytes'] = memory_allocated(device)


def memory_reserved(device=None):
    return _cp().get_default_memory_pool().total_bytes()


def empty_cache():
    _cp().get_default_memory_pool().free_all_blocks()
    _cp().get_default_pinned_memory_pool().free_all_blocks()


class Event:
    """A CUDA event; ``elapsed_time(end)`` in milliseconds as PyTorch's."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        self._ev = _cp().cuda.Event(block=blocking, disable_timing=not enable_timing, interprocess=interprocess)

    def record(self, stream=None):
        self._ev.record(stream._stream if isinstance(stream, Stream) else stream)

    def synchronize(self):
        self._ev.synchronize()

    def query(self):
        return self._ev.done

    def elapsed_time(self, end_event):
        return _cp().cuda.get_elapsed_time(self._ev, end_event._ev)

    def wait(self, stream=None):
        (stream or current_stream())._stream.wait_event(self._ev)


class Stream:
    """A CUDA stream; use as a context (``with ember.cuda.stream(s):``) to run ops on it."""

    def __init__(self, device=None, priority=0, _stream=None):
        self._stream = _stream if _stream is not None else _cp().cuda.Stream(non_blocking=True, priority=priority)

    def synchronize(self):
        self._stream.synchronize()

    def query(self):
        return self._stream.done

    def wait_stream(self, other):
        self._stream.wait_event(other._stream.record())

    def record_event(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def __enter__(self):
        self._stream.__enter__()
        return self

    def __exit__(self, *exc):
        return self._stream.__exit__(*exc)


def current_stream(device=None):
    return Stream(_stream=_cp().cuda.get_current_stream())


def default_stream(device=None):
    return Stream(_stream=_cp().cuda.Stream.null)


@contextlib.contextmanager
def stream(s):
    if s is None:
        yield
        return
    with s:
        yield
