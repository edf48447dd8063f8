"""Complex tensors' own ops: complex/polar, views as real pairs, real/imag, conj, abs/angle/sgn, with PyTorch's
gradient convention (a real loss's gradient w.r.t. z is dL/dRe(z) + i dL/dIm(z))."""
from ._util import Tensor, record, record_c, _wrap, KERNEL_NAMES
from ..autograd.grad_mode import _State



def _cview(data, a, name, fns, step, arg=None):
    """A view of ``a`` (shared memory and version counter) whose backward is already in complex convention."""
    out = record_c(data, a._device, (a,), name, fns)
    if a._vc is None:
        a._vc = [0]
    out._vc = a._vc
    out._view = (a, step, arg, _State.grad_enabled)
    return out


def _is_c(t):
    return t._data.dtype.kind == 'c'


def _floats_only(a, b, op):
    """complex()/polar() take two floating tensors of one dtype, as PyTorch checks them."""
    da, db = a._data.dtype, b._data.dtype
    if da.kind not in 'f' or db.kind not in 'f':
        raise RuntimeError(f'Expected both inputs to be Half, Float or Double tensors but got '
                           f'{KERNEL_NAMES.get(da.name, da.name)} and {KERNEL_NAMES.get(db.name, db.name)}')
    if da != db:
        raise RuntimeError(f'Expected object of scalar type {KERNEL_NAMES[da.name]} but got scalar type '
                           f'{KERNEL_NAMES[db.name]} for second argument')
    if da.itemsize == 2:
        from .._dtype import no_complex32
        raise no_complex32()


# ---- views as (real, imag) pairs ----------------------------------------------------------------------------------
def view_as_real(input):
    if not _is_c(input):
        raise RuntimeError('view_as_real is only supported for complex tensors')
    x = input._data
    data = x[..., None].view(x.real.dtype)  # (..., 1) complex -> (..., 2) real, same memory
    return _cview(data, input, 'ViewAsRealBackward0', (lambda g: view_as_complex(g.contiguous()),),
                  lambda t, _: view_as_real(t))


def view_as_complex(input):
    x = input._data
    if x.dtype.kind != 'f':
        from .._dtype import from_np
        raise RuntimeError(f'view_as_complex is only supported for half, float and double tensors, but got a tensor '
                           f'of scalar type: {KERNEL_NAMES.get(x.dtype.name, from_np(x.dtype).name)}')
    if x.ndim == 0 or x.shape[-1] != 2:
        raise RuntimeError('Tensor must have a last dimension of size 2')
    if x.itemsize == 2:
        from .._dtype import no_complex32
        raise no_complex32()
    if x.size and x.strides[-1] != x.itemsize:
        raise RuntimeError('Tensor must have a last dimension with stride 1')
    if x.size and any(s % (2 * x.itemsize) for s, n in zip(x.strides[:-1], x.shape[:-1]) if n > 1):
        raise RuntimeError('Tensor must have a stride divisible by 2 for all but last dimension')
    cdt = input._device.xp.dtype('complex64' if x.itemsize == 4 else 'complex128')
    # the last axis is contiguous: each (real, imag) row reads as one complex number of the same memory
    data = x.view(cdt)[..., 0] if x.size else input._device.xp.empty(x.shape[:-1], cdt)
    return _cview(data, input, 'ViewAsComplexBackward0', (lambda g: view_as_real(g),),
                  lambda t, _: view_as_complex(t))


def real(input):
    if not _is_c(input):
        return input
    return _cview(input._data.real, input, 'RealBackward0', (lambda g: complex(g, g.new_zeros(g.shape)),),
                  lambda t, _: real(t))


def imag(input):
    if not _is_c(input):
        raise RuntimeError('imag is not implemented for tensors with non-complex dtypes.')
    return _cview(input._data.imag, input, 'ImagBackward0', (lambda g: complex(g.new_zeros(g.shape), g),),
                  lambda t, _: imag(t))


def complex(real, imag):
    if not isinstance(real, Tensor) or not isinstance(imag, Tensor):
        raise TypeError(f"complex(): argument 'real' and 'imag' must be Tensor, not "
                        f"{type(real if not isinstance(real, Tensor) else imag).__name__}")
    _floats_only(real, imag, 'complex')
    xp = real._device.xp
    re, im = xp.broadcast_arrays(real._data, imag._data)
    data = xp.empty(re.shape, xp.dtype('complex64' if re.itemsize == 4 else 'complex128'))
    data.real, data.imag = re, im
    sr, si = real.shape, imag.shape
    from ._util import unbroadcast
    return record_c(data, real._device, (real, imag), 'ComplexBackward0',
                    (lambda g: unbroadcast(_re(g), sr), lambda g: unbroadcast(_im(g), si)))


def _re(g):
    return real(g) if _is_c(g) else g


def _im(g):
    return imag(g) if _is_c(g) else g * 0


def polar(abs, angle):
    _floats_only(abs, angle, 'polar')
    from .elementwise import cos, sin
    r, th = abs, angle
    xp = r._device.xp
    data = r._data * (xp.cos(th._data) + 1j * xp.sin(th._data)).astype('complex64' if r._data.itemsize == 4 else
                                                                       'complex128')
    from ._util import unbroadcast
    sr, st = r.shape, th.shape
    return record_c(data, r._device, (r, th), 'PolarBackward0',
                    (lambda g: unbroadcast(real(g * conj_physical(complex(cos(th), sin(th)))), sr),
                     lambda g: unbroadcast(real(g * conj_physical(complex(-sin(th), cos(th)) * r)), st)), (r, th))


# ---- conjugation --------------------------------------------------------------------------------------------------
def conj(input):
    """The conjugate. ember materializes it (a copy, not PyTorch's lazy view), but reports is_conj() as PyTorch."""
    if not _is_c(input):
        return input
    # (its gradient is conj(g) with the flag too, as PyTorch's lazy conj bit shows on z.grad)
    out = record_c(input._device.xp.conj(input._data), input._device, (input,), 'ConjBackward0', (conj,))
    out.__dict__['_conj'] = not input.__dict__.get('_conj', False)
    return out


def conj_physical(input):
    if not _is_c(input):
        return input.clone()
    return record_c(input._device.xp.conj(input._data), input._device, (input,), 'ConjPhysicalBackward0',
                    (conj_physical,))


def is_conj(input):
    return bool(input.__dict__.get('_conj', False))


def resolve_conj(input):
    if not is_conj(input):
        return input
    return input.clone()


def resolve_neg(input):
    return input


def is_complex(input):
    return _is_c(input)


# ---- magnitude, phase and sign ----------------------------------------------------------------------------------
def abs_complex(a):
    """|z| (a real tensor); the gradient g * z/|z| (zero at z = 0)."""
    return record_c(a._device.xp.abs(a._data), a._device, (a,), 'AbsBackward0', (lambda g: g * sgn(a),), (a,))


def sgn(input):
    if not _is_c(input):
        from .elementwise import sign
        out = sign(input)
        if out.grad_fn is not None:
            out.grad_fn._name = 'SgnBackward0'
        return out
    xp = input._device.xp
    z = input._data
    r = xp.abs(z)
    data = xp.where(r == 0, 0, z / xp.where(r == 0, 1, r)).astype(z.dtype)

    def back(g):  # (g - Re(g conj(s)) s) / |z|, zero where z = 0
        s = sgn(input)
        ab = abs_complex(input)
        safe = ab + (ab == 0).to(ab.dtype)
        return (g - real(g * conj_physical(s)) * s) / safe * (ab != 0).to(ab.dtype)
    return record_c(data, input._device, (input,), 'SgnBackward0', (back,), (input,))


def angle_complex(a):
    """arg z (a real tensor); the gradient g * i z / |z|^2 (zero at z = 0)."""
    xp = a._device.xp

    def back(g):
        ab2 = real(a * conj_physical(a))
        safe = ab2 + (ab2 == 0).to(ab2.dtype)
        return (g * (a * 1j)) / safe * (ab2 != 0).to(ab2.dtype)
    return record_c(xp.angle(a._data), a._device, (a,), 'AngleBackward0', (back,), (a,))


def isreal_complex(a):
    return _wrap(a._data.imag == 0, a._device)


def refuse(a, msg, kernel=None):
    """PyTorch's refusal of an op it has no complex kernel for (orderings, rounding, clamping)."""
    if a._data.dtype.kind != 'c':
        return
    if kernel is not None:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{KERNEL_NAMES[a._data.dtype.name]}\'')
    raise (RuntimeError if msg.endswith(('tensors.', 'input', 'CPU')) else NotImplementedError)(msg)


__all__ = ['view_as_real', 'view_as_complex', 'real', 'imag', 'complex', 'polar', 'conj', 'conj_physical',
           'is_conj', 'resolve_conj', 'resolve_neg', 'sgn', 'abs_complex', 'angle_complex', 'record']
