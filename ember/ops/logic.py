"""Masks and logic: the mask gradients, where, comparisons, logical and bitwise ops (bool results, no grad)."""
import builtins

from .._dtype import get_default_dtype
from ._util import (Tensor, record, unbroadcast, coerce_pair, same_device, as_tensor_like, _wrap, broadcasting,
                    not_implemented, fit_scalar, int_scalar)


def masked_grad(g, mask):
    """g * mask for a constant 0/1 mask array; itself differentiable (its own derivative is the same mask)."""
    return record(g._data * mask, g._device, (g,), 'ThresholdBackwardBackward0', (lambda gg: masked_grad(gg, mask),),
                  holds=True)


def where_grad(g, mask):
    """g where the bool array ``mask`` (broadcasting to g) holds, else 0: selected, not multiplied, so that an inf or
    nan g gives 0 where masked off, as PyTorch's where backward; itself differentiable (by the same selection)."""
    data = g._device.xp.where(mask, g._data, g._data.dtype.type(0))
    return record(data, g._device, (g,), 'WhereBackward0', (lambda gg: where_grad(gg, mask),), holds=True)


@broadcasting
def where(cond, a=None, b=None):
    if a is None and b is None:  # where(condition): the indices of the true elements, one tensor per dim
        from .index import nonzero
        return nonzero(cond, as_tuple=True)
    if not isinstance(cond, Tensor):
        raise TypeError(f'where(): argument condition must be a bool Tensor, not {type(cond).__name__}')
    if cond._data.dtype.kind != 'b':
        raise RuntimeError(f'where expected condition to be a boolean tensor, but got a tensor with dtype '
                           f'{cond.dtype.name}')
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else cond
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor_like(a, cond)
        like = a
    for t, x in ((a, b), (b, a)):  # a scalar stored into an integer tensor's dtype must fit it
        if isinstance(t, Tensor) and type(x) is builtins.int and t._data.dtype.kind in 'iu':
            fit_scalar(x, t._data.dtype)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        a, b = coerce_pair(a, b, 'where')
    elif isinstance(a, Tensor):
        a, b = coerce_pair(a, b, 'where')
    else:
        b, a = coerce_pair(b, a, 'where')
    same_device(cond, like, 'where')
    xp = cond._device.xp
    c = cond._data
    ad = a._data if isinstance(a, Tensor) else a
    bd = b._data if isinstance(b, Tensor) else b
    data = xp.where(c, ad, bd)
    ref = a if isinstance(a, Tensor) else b
    if data.dtype != ref._data.dtype:
        data = data.astype(ref._data.dtype)
    ins, fns = [], []
    if isinstance(a, Tensor):
        sa = a.shape
        ins.append(a)
        fns.append(lambda g: unbroadcast(where_grad(g, c), sa))
    if isinstance(b, Tensor):
        sb = b.shape
        ins.append(b)
        fns.append(lambda g: unbroadcast(where_grad(g, ~c), sb))
    return record(data, cond._device, tuple(ins), 'WhereBackward0', tuple(fns), (cond,), holds=True)


# ---- comparisons and logic: bool results, no gradient --------------------------------------------------------

def _compare(ufunc_name, op):
    bitwise = op.startswith('bitwise')
    ordered = op in ('lt', 'le', 'gt', 'ge')  # (complex numbers have no order)

    def compare(a, b):
        if isinstance(b, Tensor):
            a, b = coerce_pair(a, b, op)  # PyTorch computes in the promoted dtype (bitwise ops return it)
            bd = b._data
            if bitwise and a._data.dtype.kind == 'f':
                raise not_implemented(op + '_cpu', a._data.dtype)
        elif op.startswith('logical'):
            raise TypeError(f"{op}(): argument 'other' (position 2) must be Tensor, not {type(b).__name__}")
        elif bitwise and (a._data.dtype.kind == 'f' or isinstance(b, builtins.float)):
            raise not_implemented(op + '_cpu', a._data.dtype if a._data.dtype.kind == 'f' else
                                  get_default_dtype().np)
        elif isinstance(b, (builtins.int, builtins.float, builtins.bool)):
            bd = int_scalar(b, a._data.dtype) if type(b) is builtins.int else b
        else:
            bd = as_tensor_like(b, a)._data
        if ordered and (a._data.dtype.kind == 'c' or getattr(bd, 'dtype', a._data.dtype).kind == 'c'):
            raise not_implemented(op + '_cpu', a._data.dtype if a._data.dtype.kind == 'c' else bd.dtype)
        return _wrap(getattr(a._device.xp, ufunc_name)(a._data, bd), a._device)
    compare.__name__ = op
    compare.__doc__ = f'Elementwise {op} (bool result, broadcasting).'
    return broadcasting(compare)


eq = _compare('equal', 'eq')
ne = _compare('not_equal', 'ne')
lt = _compare('less', 'lt')
le = _compare('less_equal', 'le')
gt = _compare('greater', 'gt')
ge = _compare('greater_equal', 'ge')
logical_and = _compare('logical_and', 'logical_and')
logical_or = _compare('logical_or', 'logical_or')
logical_xor = _compare('logical_xor', 'logical_xor')
bitwise_and = _compare('bitwise_and', 'bitwise_and')
bitwise_or = _compare('bitwise_or', 'bitwise_or')
bitwise_xor = _compare('bitwise_xor', 'bitwise_xor')
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


def logical_not(a):
    return _wrap(a._device.xp.logical_not(a._data), a._device)


def bitwise_not(a):
    if a._data.dtype.kind == 'f':
        raise TypeError(f'bitwise_not (~) is only supported for integer and bool tensors, got {a.dtype.name}')
    return _wrap(a._device.xp.invert(a._data), a._device)


def isnan(a):
    return _wrap(a._device.xp.isnan(a._data), a._device)


def isinf(a):
    return _wrap(a._device.xp.isinf(a._data), a._device)


def isfinite(a):
    return _wrap(a._device.xp.isfinite(a._data), a._device)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    b = as_tensor_like(b, a)
    same_device(a, b, 'isclose')
    return _wrap(a._device.xp.isclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan), a._device)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return builtins.bool(isclose(a, b, rtol, atol, equal_nan)._data.all())


def equal(a, b):
    return a.shape == b.shape and builtins.bool((a._data == b._data).all())
