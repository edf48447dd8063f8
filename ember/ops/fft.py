"""The discrete Fourier transforms behind ember.fft: three R-linear kernels and their adjoints, each a recorded op.

Every public transform (fft, rfft, irfft, hfft, ... in any number of dims) is a zero-pad/trim of its input followed
by one of three kernels over a set of ``axes``, with a direction (``forward``: the e^{-2 pi i jk/n} sign) and a
``scale`` ('none', 'sqrt' or 'n': multiply by 1, 1/sqrt(N) or 1/N, N the product of the transformed sizes):

- c2c: complex -> complex, ``y = c F x`` (F the DFT matrix, or its conjugate F^H when not forward);
- r2c: real -> complex, the same on real input, keeping the first n//2+1 entries of the last axis when ``onesided``;
- c2r: complex (a Hermitian half, last axis n//2+1 long) -> real, ``y = c F^H E z`` with E the Hermitian extension
  (imaginary parts that a real result cannot carry are dropped, as PocketFFT/cuFFT do).

They are real-linear maps, so each gradient is the adjoint under <a, b> = Re(sum conj(a) b) (PyTorch's convention
for complex gradients):

- c2c* = c2c in the other direction, same scale (F^H is F's adjoint);
- r2c* = Re(c2c*(zero-pad of the half back to n)): the adjoint of keeping half is padding with zeros, the adjoint
  of the real-to-complex embedding is the real part;
- c2r* = r2c in the other direction with entries 1..(n-1)//2 of the last axis doubled: each of those stands for
  itself and its mirrored conjugate in E z, entry 0 (and n/2 for even n) only for itself.

r2c* and c2r* are recorded ops too, whose adjoints are r2c and c2r again, so gradients of any order stay exact.
The formulas are adjoints already, in PyTorch's convention: complex results record them with ``record_c``.
"""
from ._util import record, record_c

# NumPy/CuPy's norm= for a direction and a scale (their 'backward' means: scale the inverse by 1/N)
_XP_NORM = {True: {'none': 'backward', 'sqrt': 'ortho', 'n': 'forward'},
            False: {'none': 'forward', 'sqrt': 'ortho', 'n': 'backward'}}


_CPU_FFT = []


def _fft_module(xp):
    """scipy.fft on cpu when SciPy is installed (the same PocketFFT, vectorised over the batch: 2-7x numpy.fft's
    speed on multi-dim transforms), else numpy.fft; cupy.fft (cuFFT) on cuda."""
    if xp.__name__ != 'numpy':
        return xp.fft
    if not _CPU_FFT:
        try:
            import scipy.fft as fft_module
        except ImportError:
            fft_module = xp.fft
        _CPU_FFT.append(fft_module)
    return _CPU_FFT[0]


def _complex_of(np_dtype):
    """complex64 for float32 (never an upcast to complex128), complex128 for float64."""
    return 'complex64' if np_dtype.itemsize == 4 or np_dtype.name == 'complex64' else 'complex128'


def _real_of(np_dtype):
    return 'float32' if np_dtype.name in ('complex64', 'float32') else 'float64'


# ---- the kernels on arrays (NumPy/SciPy or CuPy: all take norm=) --------------------------------------------------
def c2c_array(xp, a, axes, forward, scale):
    if not axes:
        return a.copy()
    f = _fft_module(xp).fftn if forward else _fft_module(xp).ifftn
    return f(a, axes=axes, norm=_XP_NORM[forward][scale]).astype(_complex_of(a.dtype), copy=False)


def r2c_array(xp, a, axes, forward, scale, onesided):
    """A real array's transform; the inverse direction is the conjugate of the forward one (real input)."""
    f = _fft_module(xp).rfftn if onesided else _fft_module(xp).fftn
    r = f(a, axes=axes, norm=_XP_NORM[True][scale]).astype(_complex_of(a.dtype), copy=False)
    return r if forward else r.conj()


def r2c_adjoint_array(xp, g, axes, forward, scale, onesided, last_size):
    if onesided and g.shape[axes[-1]] != last_size:
        pad = [(0, 0)] * g.ndim
        pad[axes[-1]] = (0, last_size - g.shape[axes[-1]])
        g = xp.pad(g, pad)
    return c2c_array(xp, g, axes, not forward, scale).real.astype(_real_of(g.dtype), copy=False)


def c2r_array(xp, z, axes, forward, scale, last_size):
    """``z``'s last transformed axis holds last_size//2+1 entries; the other axes keep their sizes."""
    s = [z.shape[ax] for ax in axes[:-1]] + [last_size]
    if forward:  # F E z is real, so it equals its conjugate, F^H E conj(z)
        z = z.conj()
    return _fft_module(xp).irfftn(z, s=s, axes=axes, norm=_XP_NORM[False][scale]).astype(_real_of(z.dtype), copy=False)


def c2r_adjoint_array(xp, g, axes, forward, scale, last_size):
    r = r2c_array(xp, g, axes, not forward, scale, True)
    idx = [slice(None)] * r.ndim
    idx[axes[-1]] = slice(1, (last_size + 1) // 2)
    r[tuple(idx)] *= 2
    return r


# ---- recorded ops ------------------------------------------------------------------------------------------------
def fft_c2c(x, axes, forward, scale):
    xp = x._device.xp
    return record_c(c2c_array(xp, x._data, axes, forward, scale), x._device, (x,), 'FftC2CBackward0',
                  (lambda g: fft_c2c(g, axes, not forward, scale),))


def fft_r2c(x, axes, forward, scale, onesided):
    xp, n = x._device.xp, x.shape[axes[-1]]
    return record_c(r2c_array(xp, x._data, axes, forward, scale, onesided), x._device, (x,), 'FftR2CBackward0',
                  (lambda g: _r2c_adjoint(g, axes, forward, scale, onesided, n),))


def _r2c_adjoint(g, axes, forward, scale, onesided, last_size):
    data = r2c_adjoint_array(g._device.xp, g._data, axes, forward, scale, onesided, last_size)
    return record(data, g._device, (g,), 'FftR2CBackwardBackward0',
                  (lambda gg: fft_r2c(gg, axes, forward, scale, onesided),))


def fft_c2r(z, axes, forward, scale, last_size):
    xp = z._device.xp
    return record(c2r_array(xp, z._data, axes, forward, scale, last_size), z._device, (z,), 'FftC2RBackward0',
                  (lambda g: _c2r_adjoint(g, axes, forward, scale, last_size),))


def _c2r_adjoint(g, axes, forward, scale, last_size):
    data = c2r_adjoint_array(g._device.xp, g._data, axes, forward, scale, last_size)
    return record_c(data, g._device, (g,), 'FftC2RBackwardBackward0',
                  (lambda gg: fft_c2r(gg, axes, forward, scale, last_size),))

