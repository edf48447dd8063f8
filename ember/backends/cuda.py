"""ember.backends.cuda: PyTorch's CUDA backend switches (matmul.allow_tf32, SDP kernel choices, is_built)."""
import contextlib

__all__ = ['is_built', 'matmul', 'cufft_plan_cache', 'preferred_linalg_library', 'sdp_kernel', 'enable_flash_sdp',
           'flash_sdp_enabled', 'enable_mem_efficient_sdp', 'mem_efficient_sdp_enabled', 'enable_math_sdp',
           'math_sdp_enabled', 'enable_cudnn_sdp', 'cudnn_sdp_enabled', 'SDPBackend']


def is_built():
    """Whether ember can run on CUDA here: CuPy is importable."""
    try:
        import cupy  # noqa: F401  (importable is all is_built asks)
    except ImportError:
        return False
    return True


def _apply_tf32(allow):
    """Make CuPy's float32 matmuls use (or stop using) TF32 tensor cores, when CuPy is loaded and supports it."""
    import sys
    if 'cupy' not in sys.modules:
        return
    try:
        import numpy
        from cupy._core import _routines_linalg as lin
        lin.set_compute_type(numpy.float32, 7 if allow else 1)  # COMPUTE_TYPE_TF32 / COMPUTE_TYPE_DEFAULT
    except Exception:  # an older CuPy, a GPU before Ampere, or no device: the flag is only recorded
        pass


class _Matmul:
    """``ember.backends.cuda.matmul``: allow_tf32 (default False, as PyTorch) and the reduced-precision flags."""

    def __init__(self):
        self._tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True
        self.allow_fp16_accumulation = False

    @property
    def allow_tf32(self):
        return self._tf32

    @allow_tf32.setter
    def allow_tf32(self, value):
        self._tf32 = bool(value)
        if self._tf32 and _precision[0] == 'highest':
            _precision[0] = 'high'
        elif not self._tf32:
            _precision[0] = 'highest'
        _apply_tf32(self._tf32)

    def __repr__(self):
        return f'<ember.backends.cuda.matmul allow_tf32={self._tf32}>'


matmul = _Matmul()


class _PlanCache:
    size = 0
    max_size = 4096

    def clear(self):
        pass

    def __getitem__(self, device):
        return self


cufft_plan_cache = _PlanCache()
_linalg = ['default']


def preferred_linalg_library(backend=None):
    if backend is not None:
        _linalg[0] = str(backend)
    return _linalg[0]


_sdp = {'flash': True, 'mem_efficient': True, 'math': True, 'cudnn': True}


def enable_flash_sdp(enabled):
    _sdp['flash'] = bool(enabled)


def flash_sdp_enabled():
    return _sdp['flash']


def enable_mem_efficient_sdp(enabled):
    _sdp['mem_efficient'] = bool(enabled)


def mem_efficient_sdp_enabled():
    return _sdp['mem_efficient']


def enable_math_sdp(enabled):
    _sdp['math'] = bool(enabled)


def math_sdp_enabled():
    return _sdp['math']


def enable_cudnn_sdp(enabled):
    _sdp['cudnn'] = bool(enabled)


def cudnn_sdp_enabled():
    return _sdp['cudnn']


class SDPBackend:
    ERROR, MATH, FLASH_ATTENTION, EFFICIENT_ATTENTION, CUDNN_ATTENTION = -1, 0, 1, 2, 3


@contextlib.contextmanager
def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True, enable_cudnn=True):
    """Kept for scripts that choose attention kernels: ember has one attention implementation, used either way."""
    old = dict(_sdp)
    _sdp.update(flash=enable_flash, math=enable_math, mem_efficient=enable_mem_efficient, cudnn=enable_cudnn)
    try:
        yield
    finally:
        _sdp.update(old)


_precision = ['highest']  # ember.set_float32_matmul_precision's setting
