"""Shared by the tests/test_cuda_*.py files: the needs_cuda mark, device parametrization, array comparison."""
# To parametrize a test over devices: ``@on_devices`` (a ``device`` argument of 'cpu' and, where there is a GPU,
# 'cuda'), or ``pytest.mark.parametrize('device', DEVICES)``.
import numpy as np
import pytest

import ember

HAS_CUDA = ember.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason='needs CuPy and a CUDA GPU (ember.cuda.is_available() is False)')
DEVICES = ['cpu', pytest.param('cuda', marks=needs_cuda)]
on_devices = pytest.mark.parametrize('device', DEVICES)


def _np(t):
    return t.detach().cpu().numpy()


def _close(a, b, rtol=1e-5, atol=1e-7, msg=''):
    np.testing.assert_allclose(_np(a) if isinstance(a, ember.Tensor) else a,
                               _np(b) if isinstance(b, ember.Tensor) else b, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=msg)


# a compile check of kernels with NVRTC (needs CuPy's NVRTC, not a GPU): catches CUDA C errors on any machine
def _nvrtc():
    cupy = pytest.importorskip('cupy')
    import os
    from cupy.cuda import compiler
    inc = [os.path.join(os.path.dirname(cupy.__file__), '_core', 'include')]
    try:
        import nvidia.cuda_runtime
        inc.append(os.path.join(list(nvidia.cuda_runtime.__path__)[0], 'include'))
    except ImportError:
        pass
    opts = ('--std=c++17',) + tuple('-I' + p for p in inc)
    if not HAS_CUDA:  # CuPy asks the GPU for its architecture: name one instead
        compiler._get_arch_for_options_for_nvrtc = lambda arch=None: ('-arch=compute_80', 'ptx')

    def build(src):
        return compiler._compile_using_nvrtc_no_warning(src, options=opts)
    try:
        build('extern "C" __global__ void k(float* y) { y[0] = erff(1.0f); }')
    except Exception as e:  # no NVRTC library, or a CuPy whose internals moved
        pytest.skip(f'NVRTC is not usable here: {str(e)[:200]}')
    return build
