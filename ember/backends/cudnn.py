"""ember.backends.cudnn: PyTorch's cuDNN flags (benchmark, deterministic, enabled, allow_tf32), settable and kept.

ember's CUDA kernels are CuPy's, not cuDNN's: the flags are recorded so that scripts run unchanged; allow_tf32 is
also applied to CuPy's float32 matmuls (see ember.backends.cuda)."""
import contextlib
import sys

__all__ = ['is_available', 'version', 'is_acceptable', 'flags', 'enabled', 'benchmark', 'deterministic',
           'allow_tf32', 'benchmark_limit']

enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True  # PyTorch's default for convolutions


def is_available():
    """True when a CUDA device is usable (ember's convolutions run there through CuPy)."""
    from .. import cuda
    return cuda.is_available()


def version():
    """The cuDNN version CuPy was built against, or None (ember does not need cuDNN)."""
    try:
        from cupy.cuda import cudnn
        return cudnn.getVersion()
    except Exception:
        return None


def is_acceptable(tensor):
    return tensor.is_cuda and is_available()


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, deterministic=False, allow_tf32=True, benchmark_limit=10):
    mod = sys.modules[__name__]
    old = (mod.enabled, mod.benchmark, mod.deterministic, mod.allow_tf32, mod.benchmark_limit)
    mod.enabled, mod.benchmark, mod.deterministic, mod.allow_tf32 = enabled, benchmark, deterministic, allow_tf32
    mod.benchmark_limit = benchmark_limit
    try:
        yield
    finally:
        mod.enabled, mod.benchmark, mod.deterministic, mod.allow_tf32, mod.benchmark_limit = old
