"""Copies and conversions: dtype casts, device moves and clone, each differentiable; plus the in-place machinery."""
from ._util import Tensor, record, _wrap
from ..autograd.grad_mode import _State

_CAT = {'b': 0, 'u': 1, 'i': 1, 'f': 2}


def to_dtype_op(a, dt):
    src = a.dtype
    data = a._data.astype(dt.np)
    if not dt.is_floating_point:
        return _wrap(data, a._device)
    return record(data, a._device, (a,), 'ToCopyBackward0',
                  (lambda g: g.to(src) if src.is_floating_point else None,))


def to_device(a, dev):
    """A copy on ``dev`` (differentiable). Host copies are synchronous (non_blocking is accepted and ignored)."""
    src = a._device
    if dev.type == 'cpu':
        data = a._data.get()
    else:
        with dev.xp.cuda.Device(dev.index):
            # ndarray.copy() copies onto the current device, from another GPU too
            data = dev.xp.asarray(a._data) if src.type == 'cpu' else a._data.copy()
    if a._data.dtype.kind != 'f':
        return _wrap(data, dev)
    return record(data, dev, (a,), 'ToCopyBackward0', (lambda g: g.to(src),))


def clone(a):
    return record(a._data.copy(), a._device, (a,), 'CloneBackward0', (lambda g: g,))


def check_inplace_leaf(a, op):
    if _State.grad_enabled and a._rg and a.grad_fn is None:
        raise RuntimeError(f'a leaf Variable that requires grad is being used in an in-place operation ({op}).')


def assign_result(a, out, op):
    """Finish an in-place op whose value (and graph) was computed out of place as ``out``."""
    if out.shape != a.shape:
        raise RuntimeError(f"output with shape {list(a.shape)} doesn't match the broadcast shape {list(out.shape)} "
                           f"({op})")
    if _CAT[out._data.dtype.kind] > _CAT[a._data.dtype.kind]:
        raise RuntimeError(f"result type {out.dtype.name} can't be cast to the desired output type {a.dtype.name} "
                           f"({op})")
    a._device.xp.copyto(a._data, out._data, casting='unsafe')
    a._bump()
    if out.grad_fn is not None:
        a._rebind(out)
    return a


# in-place ops whose out-of-place form never reads its input in backward (the others read a's value, which the
# in-place write is about to overwrite: they are computed from a copy of the original, as PyTorch saves one)
_KEEPS_NO_INPUT = frozenset(('add_', 'sub_', 'relu_', 'exp_', 'sigmoid_', 'tanh_', 'neg_', 'sqrt_', 'expm1_',
                             'reciprocal_', 'rsqrt_', 'floor_', 'ceil_', 'round_', 'sign_', 'trunc_', 'fill_',
                             'masked_fill_', 'scatter_', 'scatter_add_', 'index_add_', 'tril_', 'triu_',
                             'index_put_'))


def _original(a, op, b=None):
    """The operand to compute ``a``'s in-place op from under autograd: a itself, or a copy of its current value
    at the same graph position when the op's backward would read a after the write."""
    if op in _KEEPS_NO_INPUT or (op in ('mul_', 'div_', 'remainder_') and not isinstance(b, Tensor)):
        return a
    t = _wrap(a._data.copy(), a._device)
    t._rg, t.grad_fn, t._out = a._rg, a.grad_fn, a._out
    return t


def inplace_binary(a, b, ufunc, op_fn, op):
    """``a op= b``: straight into a's memory when no graph is recorded, else computed and rebound."""
    check_inplace_leaf(a, op)
    if _State.grad_enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        orig = _original(a, op, b)
        return assign_result(a, op_fn(orig, orig if b is a else b), op)
    xp = a._device.xp
    if isinstance(b, Tensor):
        if b._device is not a._device:
            raise RuntimeError(f'Expected all tensors to be on the same device, but found at least two devices, '
                               f'{a._device} and {b._device}! ({op})')
        bd = b._data
    else:
        bd = b
    try:
        getattr(xp, ufunc)(a._data, bd, out=a._data, casting='same_kind')
    except (TypeError, ValueError) as e:
        if 'cast' in str(e) or 'Cannot' in str(e):
            return assign_result(a, op_fn(a, b), op)
        raise RuntimeError(f"output with shape {list(a.shape)} doesn't match the broadcast shape "
                           f"(in-place {op} with operand of shape {list(getattr(b, 'shape', ()))})") from None
    a._bump()
    return a


def inplace_unary(a, op_fn, op, *args, **kwargs):
    check_inplace_leaf(a, op)
    if _State.grad_enabled and a._rg:
        return assign_result(a, op_fn(_original(a, op), *args, **kwargs), op)
    prev = _State.grad_enabled
    _State.grad_enabled = False
    try:
        out = op_fn(a, *args, **kwargs)
    finally:
        _State.grad_enabled = prev
    return assign_result(a, out, op)
