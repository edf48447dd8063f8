"""ember.cuda: CUDA devices through CuPy — availability, device selection, sync, RNG seeds, memory stats, events, streams."""
import contextlib

_cupy = None

__all__ = ['is_available', 'device_count', 'is_initialized', 'init', 'current_device', 'set_device', 'device',
           'device_of', 'get_device_name', 'get_device_properties', 'get_device_capability', 'get_arch_list',
           'is_bf16_supported', 'synchronize', 'manual_seed', 'manual_seed_all', 'seed', 'seed_all', 'initial_seed',
           'get_rng_state', 'set_rng_state', 'get_rng_state_all', 'set_rng_state_all', 'memory_allocated',
           'max_memory_allocated', 'reset_peak_memory_stats', 'reset_max_memory_allocated', 'memory_reserved',
           'max_memory_reserved', 'mem_get_info', 'memory_stats', 'memory_summary', 'empty_cache', 'Event', 'Stream',
           'current_stream', 'default_stream', 'set_stream', 'stream', 'amp']


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


def _need_gpu():
    """CuPy, checked to see a GPU: the friendly RuntimeError of device('cuda') otherwise."""
    from .backends import device as _device
    return _device('cuda', 0).xp


def is_available():
    """Whether CuPy is installed and sees at least one GPU (never raises)."""
    return device_count() > 0


def device_count():
    try:
        return _cp().cuda.runtime.getDeviceCount()
    except Exception:  # no CuPy, no driver, a driver too old for this CuPy
        return 0


def is_initialized():
    return _cupy is not None


def init():
    _need_gpu()


def _index(dev):
    """A CUDA device index from an int, 'cuda:1', a device or None (the current one)."""
    if dev is None:
        return current_device()
    if isinstance(dev, int) and not isinstance(dev, bool):
        return current_device() if dev < 0 else dev
    from .backends import device as _device
    d = _device(dev) if isinstance(dev, str) else dev
    if getattr(d, 'type', 'cuda') != 'cuda':
        raise ValueError(f'Expected a cuda device, but got: {d}')
    idx = getattr(d, 'index', None)
    return current_device() if idx is None else idx


def current_device():
    return _cp().cuda.runtime.getDevice()


def set_device(device):
    idx = _index(device)
    _need_gpu()
    _cp().cuda.runtime.setDevice(idx)


def get_device_name(device=None):
    return get_device_properties(device).name


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
    _need_gpu()
    return _Props(_cp().cuda.runtime.getDeviceProperties(_index(device)))


def get_device_capability(device=None):
    p = get_device_properties(device)
    return p.major, p.minor


def get_arch_list():
    if not is_available():
        return []
    major, minor = get_device_capability()
    return [f'sm_{major}{minor}']


def is_bf16_supported(including_emulation=True):
    """False: NumPy/CuPy have no bfloat16 dtype, so ember has none."""
    return False


class device:
    """Context manager that makes a device (int, 'cuda:1' or ember.device) the current CUDA device inside it."""

    def __init__(self, device):
        self.idx = None if device is None or (isinstance(device, int) and device < 0) else _index(device)
        self._ctx = None

    def __enter__(self):
        if self.idx is not None:
            self._ctx = _cp().cuda.Device(self.idx)
            self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            return self._ctx.__exit__(*exc)
        return False


class device_of(device):
    """Context manager: make a tensor's device current inside it (a cpu tensor: do nothing)."""

    def __init__(self, obj):
        dev = obj.device
        super().__init__(dev.index if dev.type == 'cuda' else None)


def synchronize(device=None):
    """Wait for all work queued on a device (default: the current one) to finish."""
    _need_gpu()
    with _cp().cuda.Device(_index(device)) as d:
        d.synchronize()


# ---- RNG: the default cuda generators of ember.backends.random ------------------------------------------------------

def _generator(dev):
    from .backends.random import _cuda_generators, Generator, default_generator
    g = _cuda_generators.get(dev)
    if g is None:
        g = _cuda_generators[dev] = Generator(dev)
        g.manual_seed(default_generator.initial_seed())
    return g


def _cuda_dev(i=None):
    from .backends import device as _device
    return _device('cuda', _index(i) if i is not None else (current_device() if is_initialized() else 0))


def manual_seed(seed):
    """Seed the current CUDA device's default generator (silently nothing to do without a GPU, as PyTorch)."""
    if not is_available():
        return
    _generator(_cuda_dev()).manual_seed(seed)


def manual_seed_all(seed):
    for i in range(device_count()):
        _generator(_cuda_dev(i)).manual_seed(seed)


def seed():
    if is_available():
        return _generator(_cuda_dev()).seed()


def seed_all():
    import random
    s = random.getrandbits(63)
    manual_seed_all(s)


def initial_seed():
    _need_gpu()
    return _generator(_cuda_dev()).initial_seed()


def get_rng_state(device='cuda'):
    _need_gpu()
    return _generator(_cuda_dev(device)).get_state()


def set_rng_state(new_state, device='cuda'):
    _need_gpu()
    _generator(_cuda_dev(device)).set_state(new_state)


def get_rng_state_all():
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states):
    for i, s in enumerate(new_states):
        set_rng_state(s, i)


# ---- memory: CuPy's default memory pool -----------------------------------------------------------------------------
# CuPy's pool reports the bytes in use and held, but keeps no peak. ember's peak is exact from the first call of
# max_memory_allocated / reset_peak_memory_stats on: that call routes CuPy allocations through a small wrapper that
# records the pool's high-water mark (before it, nothing is recorded, and the first peak is the bytes in use then).

class _PeakTracker:
    def __init__(self, pool):
        self.pool = pool
        self.peak = pool.used_bytes()

    def malloc(self, size):
        mem = self.pool.malloc(size)
        used = self.pool.used_bytes()
        if used > self.peak:
            self.peak = used
        return mem


_tracker = [None]


def _peak_tracker():
    t = _tracker[0]
    if t is None:
        cp = _need_gpu()
        t = _tracker[0] = _PeakTracker(cp.get_default_memory_pool())
        cp.cuda.set_allocator(t.malloc)
    return t


def memory_allocated(device=None):
    """Bytes of GPU memory held by live arrays (CuPy's default pool)."""
    return _need_gpu().get_default_memory_pool().used_bytes()


def max_memory_allocated(device=None):
    """The most bytes memory_allocated reached (tracked from this function's or reset_peak_memory_stats' first call
    on; see the note above)."""
    t = _peak_tracker()
    t.peak = max(t.peak, t.pool.used_bytes())
    return t.peak


def reset_peak_memory_stats(device=None):
    t = _peak_tracker()
    t.peak = t.pool.used_bytes()


reset_max_memory_allocated = reset_peak_memory_stats


def memory_reserved(device=None):
    """Bytes the pool holds from the driver (in use plus cached)."""
    return _need_gpu().get_default_memory_pool().total_bytes()


max_memory_reserved = memory_reserved


def mem_get_info(device=None):
    """(free, total) bytes of the device, as the driver reports them."""
    cp = _need_gpu()
    with cp.cuda.Device(_index(device)):
        return cp.cuda.runtime.memGetInfo()


def memory_stats(device=None):
    pool = _need_gpu().get_default_memory_pool()
    return {'allocated_bytes.all.current': pool.used_bytes(), 'allocated_bytes.all.peak': max_memory_allocated(),
            'reserved_bytes.all.current': pool.total_bytes(), 'inactive_split_bytes.all.current': pool.free_bytes()}


def memory_summary(device=None, abbreviated=False):
    s = memory_stats(device)
    return '\n'.join(f'{k}: {v / 2**20:.1f} MiB' for k, v in s.items())


def empty_cache():
    """Return the pool's cached, unused blocks to the driver (nothing to do without CuPy or a GPU)."""
    if not is_available():
        return
    _cp().get_default_memory_pool().free_all_blocks()
    _cp().get_default_pinned_memory_pool().free_all_blocks()


# ---- events and streams ---------------------------------------------------------------------------------------------

class Event:
    """A CUDA event; ``elapsed_time(end)`` in milliseconds as PyTorch's."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        _need_gpu()
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
        if _stream is None:
            _need_gpu()
            with _cp().cuda.Device(_index(device)):
                _stream = _cp().cuda.Stream(non_blocking=True, priority=priority)
        self._stream = _stream

    @property
    def cuda_stream(self):
        return self._stream.ptr

    def synchronize(self):
        self._stream.synchronize()

    def query(self):
        return self._stream.done

    def wait_event(self, event):
        self._stream.wait_event(event._ev)

    def wait_stream(self, other):
        self._stream.wait_event(other._stream.record())

    def record_event(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def __eq__(self, other):
        return isinstance(other, Stream) and self._stream.ptr == other._stream.ptr

    def __hash__(self):
        return hash(self._stream.ptr)

    def __enter__(self):
        self._stream.__enter__()
        return self

    def __exit__(self, *exc):
        return self._stream.__exit__(*exc)


def current_stream(device=None):
    _need_gpu()
    return Stream(_stream=_cp().cuda.get_current_stream())


def default_stream(device=None):
    _need_gpu()
    return Stream(_stream=_cp().cuda.Stream.null)


def set_stream(stream):
    """Make ``stream`` current for the ops that follow (prefer ``with ember.cuda.stream(s):``)."""
    if stream is not None:
        stream._stream.use()


@contextlib.contextmanager
def stream(s):
    if s is None:
        yield
        return
    with s:
        yield


from . import cuda_amp as amp  # noqa: E402  (ember.cuda.amp: autocast, GradScaler)
import sys as _sys  # noqa: E402
_sys.modules[__name__ + '.amp'] = amp  # so `import ember.cuda.amp` / `from torch.cuda.amp import ...` resolve
__path__ = []  # a package to the import system (its one submodule, amp, is registered above)
