"""Copies and conversions: dtype casts, device moves, Tensor.to and clone, each differentiable."""
from ._util import Tensor, record, record_c, _wrap
from .._dtype import dtype as _DtypeClass


def to_dtype_op(a, dt):
    src = a.dtype
    if src.is_complex and dt.name == 'bool':  # (nonzero in either part; nothing is discarded)
        return _wrap(a._data != 0, a._device)
    if src.is_complex and not dt.is_complex:
        import warnings
        warnings.warn('Casting complex values to real discards the imaginary part', UserWarning, stacklevel=3)
        data = a._data.real.astype(dt.np)
    else:
        data = a._data.astype(dt.np)
    if not (dt.is_floating_point or dt.is_complex):
        return _wrap(data, a._device)
    if dt.is_complex and not src.is_complex:  # PyTorch's convention: a real input gets the real part
        return record_c(data, a._device, (a,), 'ToCopyBackward0',
                        (lambda g: g.real.to(src) if src.is_floating_point else None,))
    return record_c(data, a._device, (a,), 'ToCopyBackward0',
                    (lambda g: g.to(src) if src.is_floating_point or src.is_complex else None,))


def to_device(a, dev):
    """A copy on ``dev`` (differentiable). Host copies are synchronous (non_blocking is accepted and ignored)."""
    src = a._device
    if dev.type == 'cpu':
        data = a._data.get()
    else:
        with dev.xp.cuda.Device(dev.index):
            # ndarray.copy() copies onto the current device, from another GPU too
            data = dev.xp.asarray(a._data) if src.type == 'cpu' else a._data.copy()
    if a._data.dtype.kind not in 'fc':
        return _wrap(data, dev)
    return record(data, dev, (a,), 'ToCopyBackward0', (lambda g: g.to(src),))


# Tensor.to's signatures, as PyTorch lists them when none matches
_TO_SIGNATURES = tuple((names, f' * ({first}, bool non_blocking = False, bool copy = False, *, torch.memory_format '
                                f'memory_format = None)') for names, first in (
    (('device', 'dtype'), 'torch.device device = None, torch.dtype dtype = None'),
    (('dtype',), 'torch.dtype dtype'), (('tensor',), 'Tensor tensor')))


def _to_arg_ok(name, v, overload):
    from .._dtype import dtype
    from ..backends import device
    if name == 'device':
        return v is None or isinstance(v, (str, device)) or type(v) is int
    if name == 'dtype':
        return isinstance(v, dtype) or v is float or v is int or v is bool or (v is None and overload == 0)
    if name == 'tensor':
        return isinstance(v, Tensor)
    if name == 'memory_format':
        return v is None  # ember stores every tensor in NumPy's layouts: it has no memory-format objects
    return type(v) is bool


def _type_name(v):
    if isinstance(v, Tensor):
        return 'Tensor'
    mod = type(v).__module__ or ''
    return f'torch.{type(v).__name__}' if mod.startswith('ember') else type(v).__name__


def tensor_to(a, args, kwargs):
    """Tensor.to(device=None, dtype=None, non_blocking=False, copy=False), .to(dtype, non_blocking, copy) or
    .to(tensor, non_blocking, copy), each with memory_format=: the first signature the arguments fit."""
    if not kwargs and len(args) == 1 and type(args[0]) is _DtypeClass:  # the common .to(dtype): no parsing
        return to_dtype_op(a, args[0]) if args[0].np != a._data.dtype else a
    if len(args) > 4:
        raise TypeError(f'to() takes from 0 to 4 positional arguments but {len(args)} were given')
    for i, (first, _) in enumerate(_TO_SIGNATURES):
        names = first + ('non_blocking', 'copy')
        if len(args) > len(names) or any(k not in names + ('memory_format',) or k in names[:len(args)]
                                         for k in kwargs):
            continue
        bound = dict(zip(names, args), **kwargs)
        if all(_to_arg_ok(k, v, i) for k, v in bound.items()):
            break
    else:
        got = ', '.join([_type_name(v) for v in args] + [f'{k}={_type_name(v)}' for k, v in kwargs.items()])
        got += ', ' if kwargs and not args else ''
        raise TypeError(f'to() received an invalid combination of arguments - got ({got}), but expected one of:\n'
                        + '\n'.join(sig for _, sig in _TO_SIGNATURES) + '\n')
    other = bound.get('tensor')
    dev = other._device if other is not None else bound.get('device')
    dt = other.dtype if other is not None else bound.get('dtype')
    out = a
    if dev is not None:
        from ..backends import get_device
        dev = get_device(dev)
        if dev is not a._device:
            out = to_device(out, dev)
    if dt is not None:
        from .._dtype import to_dtype
        dt = to_dtype(dt)
        if dt.np != out._data.dtype:
            out = to_dtype_op(out, dt)
    if bound.get('copy') and out is a:
        out = record(a._data.copy(order='K'), a._device, (a,), 'ToCopyBackward0', (lambda g: g,))
    return out


def clone(a):
    # order='K' keeps a transposed layout, as PyTorch's clone (preserve_format) keeps the strides
    return record(a._data.copy(order='K'), a._device, (a,), 'CloneBackward0', (lambda g: g,))
