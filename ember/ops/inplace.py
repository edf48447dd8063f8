"""In-place ops: PyTorch's refusals, writes into memory, and the graph rewrites of versions, views and CopySlices."""
# The model. A tensor's version counter (TensorCore._vc, a one-element list bumped by _bump after every write) is
# shared by all its views; a Node records the versions of the tensors it saves and backward refuses changed ones
# (autograd/graph.py). A view remembers (base, step, arg, grad_mode) (ops/shape.py: _view), step(t, arg) remaking
# it from any tensor of the base's shape. An in-place op with no graph involved writes straight into memory and
# bumps the counter; otherwise its value is computed out of place and the tensor is rebound to that result's graph
# position (rebind_inplace). On a view, the root base is rebound to a CopySlices node (the gradient outside the
# view's region goes to the base's old value, inside it through the replayed view steps) and every view between
# the base and the edited one is remade from the rebound base. PyTorch's refusals: check_inplace_leaf.
# (It is an ops module, not an autograd one: it records its nodes with ops/_util.record, and autograd below ops
# imports no op at module level.)
import warnings

from ._util import (Tensor, record, record_c, unbroadcast, wrap_int, fit_scalar, _wrap, broadcast_error,
                    int_scalar, KERNEL_NAMES, check_bool_sub)
from .._dtype import int64 as _int64
from ..autograd.grad_mode import _State
from ..autograd.graph import Node

# dtype kinds by category (bool < integer < floating < complex): an in-place result may not rise above its target's
_I64 = _int64.np
_CHECKED_UFUNCS = frozenset(('remainder', 'floor_divide', 'power', 'subtract'))
_CAT = {'b': 0, 'u': 1, 'i': 1, 'f': 2, 'V': 2, 'c': 3}


def check_inplace_leaf(a, op, other=None, overlap=True):
    """PyTorch's refusals of an in-place op: on a tensor whose elements overlap in memory (an expand; every in-place
    op passes here, so this is the one check of it; ``overlap=False``: the caller checks what it writes itself), and
    under grad mode on a leaf that requires grad, on a view of one, on a view made in no_grad mode whose edit would
    be recorded."""
    d = a._data
    if overlap and d.base is not None and 0 in d.strides and overlaps(d):
        # (cheap tests first: an array owning its memory has its own strides, and no overlap is without a 0)
        raise RuntimeError(_OVERLAP)
    if _State.grad_enabled:
        if a._rg and a.grad_fn is None:
            raise RuntimeError(f'a leaf Variable that requires grad is being used in an in-place operation ({op}).')
        info = a._view  # (base, step, arg, made_with_grad) on a view made by a view op (ops.shape._view)
        if info is not None:
            _check_view_inplace(a, info, other)


def _view_chain(a, info):
    """The root base of view a and the links from it out to a: ``[(view, (parent, step, arg, grad_mode)), ...]``."""
    links = []
    t = a
    while info is not None:
        links.append((t, info))
        t = info[0]
        info = t._view
    links.reverse()
    return t, links


_OVERLAP = ('unsupported operation: more than one element of the written-to tensor refers to a single memory '
            'location. Please clone() the tensor before performing the operation.')
_NO_GRAD_VIEW = ('{} created in no_grad mode and is being modified inplace with grad mode enabled. Given that this '
                 'use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both '
                 'the view and the inplace either both inside the no_grad block (if you don\'t want the inplace to '
                 'be tracked) or both outside (if you want the inplace to be tracked).')


def overlaps(arr):
    """Whether some elements of arr share memory (a stride-0 dim of size > 1, as expand makes)."""
    return arr.size > 1 and any(s == 0 and n > 1 for s, n in zip(arr.strides, arr.shape))


def check_overlap(a):
    """PyTorch's refusal to write into a whose elements overlap in memory (raised from a failed write: unchained)."""
    if overlaps(a._data):
        raise RuntimeError(_OVERLAP) from None


def _check_view_inplace(a, info, other):
    root, links = _view_chain(a, info)
    if not all(link[1][3] for link in links) and (
            root._rg or a._rg or (isinstance(other, Tensor) and other._rg)):
        raise RuntimeError(_NO_GRAD_VIEW.format('A view was' if not info[3] else
                                                'A view of a view which was'))
    if root._rg and root.grad_fn is None:
        raise RuntimeError('a view of a leaf Variable that requires grad is being used in an in-place operation.')


def rebind_inplace(a, out):
    """After an in-place op on a whose new value and graph are ``out``: a stands for out's graph position.

    When a is a view, the op changed its base too: the base is rebound to a CopySlices node (its gradient flows
    to its old value outside the view's region, and into out through the view's region) and a, with any view
    between it and the base, to the same view of the rebound base.
    """
    info = a._view
    if info is None:
        a._rebind(out)
        return
    root, links = _view_chain(a, info)
    steps = tuple((link[1][1], link[1][2]) for link in links)
    shape = root.shape
    old = root._snapshot()
    # (record_c: the view steps carry their own complex convention, view_as_real's included)
    node_holder = record_c(root._data, root._device, (old, out), 'CopySlices',
                         (lambda g: outside_view(g, steps, shape), lambda g: replay_view(g, steps)))
    root._rebind(node_holder)
    for view, (parent, step, arg, _) in links:
        view._rebind(step(parent, arg))


def replay_view(t, steps):
    """The view that ``steps`` made of a base, made of t (a tensor of the base's shape) with tensor ops."""
    for step, arg in steps:
        t = step(t, arg)
    return t


def _owned_by(v, z):
    while v is not None:
        if v is z:
            return True
        v = v.base
    return False


def outside_view(g, steps, shape):
    """g (the base's gradient) with the region of the view ``steps`` make zeroed; differentiable again."""
    xp = g._device.xp
    z = g._data.copy()
    prev = _State.grad_enabled
    _State.grad_enabled = False
    try:
        v = replay_view(_wrap(z, g._device), steps)._data
        if _owned_by(v, z):  # the steps made a view of the copy: zero through it
            v[...] = 0
        else:  # a reshape step needed a copy for this layout: find the region's flat positions instead
            n = 1
            for s in shape:
                n *= s
            idx = replay_view(_wrap(xp.arange(n).reshape(shape), g._device), steps)._data
            z = g._data.copy()
            z.reshape(-1)[idx.reshape(-1)] = 0
    finally:
        _State.grad_enabled = prev
    return record_c(z, g._device, (g,), 'CopySlicesBackward0', (lambda gg: outside_view(gg, steps, shape),))


def copy_result(a, src):
    """copy_'s new value and graph under autograd: src cast to a's device and dtype (differentiably) and broadcast
    to a's shape; the history a had is replaced, so its old value gets a zero gradient (PyTorch's CopyBackwards)."""
    moved = src.to(device=a._device, dtype=a.dtype)
    xp = a._device.xp
    try:
        if moved._data.ndim > a._data.ndim:  # (NumPy drops leading 1s; PyTorch never grows the destination)
            raise ValueError
        data = xp.broadcast_to(moved._data, a._data.shape)
    except ValueError:
        raise _not_broadcastable(src, a) from None
    sm = moved.shape
    return record(data, a._device, (a, moved), 'CopyBackwards',
                  (lambda g: _wrap(xp.zeros(g._data.shape, g._data.dtype), g._device),
                   lambda g: unbroadcast(g, sm)))


def _not_broadcastable(src, a):
    """PyTorch's error for a copy_ source that does not fit the destination: the clashing dim, or (a source of more
    dims that broadcasts) the broadcast shape, which the destination would have to take."""
    err = broadcast_error(a.shape, src.shape)
    if src.ndim > a.ndim and str(err).startswith('shapes'):  # (broadcast_error found no clash)
        shape = a._device.xp.broadcast_shapes(a.shape, src.shape)
        return RuntimeError(f"output with shape {list(a.shape)} doesn't match the broadcast shape {list(shape)}")
    return err


def _scalar_name(t):
    """PyTorch's ScalarType name of t's dtype (``Long``, ``ComplexFloat``), as its casting errors print it."""
    name = t.dtype.name
    return KERNEL_NAMES.get(name, name)


def assign_result(a, out, op):
    """Finish an in-place op whose value (and graph) was computed out of place as ``out``."""
    if out.shape != a.shape:
        raise RuntimeError(f"output with shape {list(a.shape)} doesn't match the broadcast shape {list(out.shape)} "
                           f"({op})")
    if _CAT[out._data.dtype.kind] > _CAT[a._data.dtype.kind]:
        raise RuntimeError(f"result type {_scalar_name(out)} can't be cast to the desired output type "
                           f"{_scalar_name(a)}")
    a._device.xp.copyto(a._data, out._data, casting='unsafe')
    a._bump()
    if out.grad_fn is not None:
        if out._data.dtype != a._data.dtype:  # (a's gradient arrives in a's dtype: cast back in the graph)
            out = out.to(a.dtype)
        rebind_inplace(a, out)
    return a


def _operand(a, copy=False):
    """``a`` at its graph position, sharing its memory (or with a copy of it), for an in-place op to compute from."""
    t = _wrap(a._data.copy() if copy else a._data, a._device)
    t._rg, t.grad_fn, t._out = a._rg, a.grad_fn, a._out
    return t


def _saves(t, out, inputs):
    """Whether a node the op recorded for ``out`` saved ``t`` (or a view of it), found from the op's own ``saved``
    declaration: only the op's new nodes are searched, the walk stopping at its operands' nodes (and giving up,
    True, on a long composite)."""
    todo = [out.grad_fn] if out.grad_fn is not None else []
    stop = {x.grad_fn for x in inputs if isinstance(x, Tensor)}
    stop.add(t.grad_fn)
    seen = 0
    while todo:
        n = todo.pop()
        seen += 1
        if seen > 32:
            return True
        for s in n.saved:
            if s is t or (t._vc is not None and s._vc is t._vc):
                return True
        for e in n.edges:
            if e is not None and isinstance(e[0], Node) and e[0] not in stop:
                todo.append(e[0])
    return False


def _inplace_graph(a, op_fn, op, b, args=(), kwargs={}):
    """a's in-place op under autograd: its value computed out of place, then written into a and a rebound to it.
    The op computes from a's memory; if its backward saved that input (mul_, clamp_, sin_; not add_, exp_, relu_),
    it computes again from a copy that the write leaves intact, as PyTorch saves the original self."""
    def run(t):  # (``a.mul_(a)``: both operands are the one computed from, so the copy serves both)
        return op_fn(t, t if b is a else b, *args, **kwargs) if b is not _NONE else op_fn(t, *args, **kwargs)
    t = _operand(a)
    out = run(t)
    if _saves(t, out, (b, *args, *kwargs.values())):
        out = run(_operand(a, copy=True))
    return assign_result(a, out, op)


_NONE = object()


def inplace_binary(a, b, ufunc, op_fn, op):
    """``a op= b``: straight into a's memory when no graph is recorded, else computed and rebound."""
    check_inplace_leaf(a, op, b)
    if _State.grad_enabled and (a._rg or (isinstance(b, Tensor) and b._rg)):
        return _inplace_graph(a, op_fn, op, b)
    xp = a._device.xp
    if isinstance(b, Tensor):
        if b._device is not a._device:
            raise RuntimeError(f'Expected all tensors to be on the same device, but found at least two devices, '
                               f'{a._device} and {b._device}! ({op})')
        bd = b._data
    elif type(b) is int and a._data.dtype.kind in 'iu':  # (an exponent is checked, other operands wrap)
        bd = fit_scalar(b, a._data.dtype) if ufunc == 'power' else wrap_int(b, a._data.dtype)
    else:
        bd = b
        if type(b) is int and not 0 <= b <= 127:  # (PyTorch's Scalar conversion may fail first)
            # (a bool tensor's subtraction is refused before the promotion of a uint64 Scalar is)
            bd = int_scalar(b, _I64 if ufunc == 'subtract' and a._data.dtype.kind == 'b' else a._data.dtype)
    if ufunc in _CHECKED_UFUNCS:  # (one set lookup keeps add_/mul_/div_ off the chain of special cases)
        if ufunc in ('remainder', 'floor_divide') and a._data.dtype.kind in 'iub':
            from .elementwise import _check_int_divisor
            if a._data.dtype.kind == 'b' and (getattr(bd, 'dtype', None) == bool or isinstance(bd, bool)):
                from ._util import not_implemented
                raise not_implemented('remainder_cpu' if ufunc == 'remainder' else 'div_floor_cpu', a._data.dtype)
            _check_int_divisor(a, bd)
        elif ufunc == 'power' and a._data.dtype.kind in 'iub' and type(b) is int and b < 0:
            raise RuntimeError('Integers to negative integer powers are not allowed.')
        elif ufunc == 'power' and a._data.dtype.kind in 'iu' and getattr(bd, 'dtype', None) is not None and \
                bd.dtype.kind in 'iu':  # integer powers with possibly negative exponents: PyTorch's, not NumPy's
            return assign_result(a, op_fn(a, b), op)
        elif ufunc == 'power' and a._data.dtype.kind == 'b' and type(b) is bool:  # x ** True is x; x ** False is 1
            if not b:
                a._data.fill(True)
            a._bump()
            return a
        elif ufunc == 'subtract' and (a._data.dtype.kind == 'b' or getattr(bd, 'dtype', None) == bool or
                                      isinstance(bd, bool)):
            check_bool_sub(a, b)
    try:
        getattr(xp, ufunc)(a._data, bd, out=a._data, casting='same_kind')
    except (TypeError, ValueError) as e:
        check_overlap(a)
        if 'cast' in str(e) or 'Cannot' in str(e):
            return assign_result(a, op_fn(a, b), op)
        raise RuntimeError(f"output with shape {list(a.shape)} doesn't match the broadcast shape "
                           f"(in-place {op} with operand of shape {list(getattr(b, 'shape', ()))})") from None
    a._bump()
    return a


def _any_rg(args, kwargs):
    for x in args:
        if isinstance(x, Tensor) and x._rg:
            return True
    if kwargs:
        for x in kwargs.values():
            if isinstance(x, Tensor) and x._rg:
                return True
    return False


def inplace_unary(a, op_fn, op, *args, **kwargs):
    """``a.op_(*args)``: recorded when a or a tensor argument (``maximum_(w)``, ``index_add_(.., w)``) requires
    grad, else computed without a graph and written into a."""
    check_inplace_leaf(a, op, args[0] if args else None)
    if _State.grad_enabled and (a._rg or ((args or kwargs) and _any_rg(args, kwargs))):
        return _inplace_graph(a, op_fn, op, _NONE, args, kwargs)
    prev = _State.grad_enabled
    _State.grad_enabled = False
    try:
        out = op_fn(a, *args, **kwargs)
    finally:
        _State.grad_enabled = prev
    return assign_result(a, out, op)


def masked_fill_overlapping(a, op_fn, mask, value):
    """masked_fill_ on a tensor whose elements overlap (an expand): PyTorch writes the masked elements, warning that
    this is deprecated (other in-place ops refuse); an element aliased by a masked and an unmasked one is filled."""
    warnings.warn('Use of masked_fill_ on expanded tensors is deprecated. Please clone() the tensor before performing '
                  'this operation. This also applies to advanced indexing e.g. tensor[mask] = scalar', UserWarning,
                  stacklevel=3)
    check_inplace_leaf(a, 'masked_fill_', value, False)
    if _State.grad_enabled and (a._rg or (isinstance(value, Tensor) and value._rg)):
        # (PyTorch records it and then fails in backward with this error; the gradient through the aliased
        # elements would be counted once per alias here, so ember refuses at once rather than be wrong)
        raise RuntimeError(_OVERLAP)
    prev = _State.grad_enabled
    _State.grad_enabled = False
    try:
        out = op_fn(a, mask, value)
    finally:
        _State.grad_enabled = prev
    if out.shape != a.shape:
        raise RuntimeError(f"output with shape {list(a.shape)} doesn't match the broadcast shape {list(out.shape)} "
                           f"(masked_fill_)")
    xp = a._device.xp
    xp.copyto(a._data, out._data, casting='unsafe', where=xp.broadcast_to(mask._data, a._data.shape))
    a._bump()
    return a


# ---- whole-tensor writes: zero_, fill_, copy_ ----------------------------------------------------------------------

def zero_(self):
    """Tensor.zero_: fill with 0."""
    return fill_(self, 0)


def fill_(self, value):
    """Tensor.fill_: every element set to ``value`` (a recorded constant when the tensor is in a graph). A number
    fills a tensor whose elements overlap (an expand: all get the one value) as PyTorch does; a tensor value not."""
    check_inplace_leaf(self, 'fill_', value, isinstance(value, Tensor))
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f'fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} '
                               f'dimensions.')
        if _State.grad_enabled and value._rg:  # the value's gradient is the sum of the filled elements'
            return assign_result(self, copy_result(self, value), 'fill_')
        value = value.item()
    value = fit_scalar(value, self._data.dtype)
    if _State.grad_enabled and self._rg:  # a constant replaces the history (not a * 0 + value: NaN * 0)
        const = _wrap(self._device.xp.full((), value, dtype=self._data.dtype), self._device)
        return assign_result(self, copy_result(self, const), 'fill_')
    self._data.fill(value)
    self._bump()
    return self


def copy_(self, src, non_blocking=False):
    """Tensor.copy_: ``src``'s values (broadcast, cast, moved); under grad the history is replaced by src's."""
    check_inplace_leaf(self, 'copy_', src, src is not self)  # (PyTorch lets an expand copy itself: a no-op)
    if not isinstance(src, Tensor):
        from .._creation import tensor as _tensor_fn
        src = _tensor_fn(src)
    if _State.grad_enabled and (self._rg or src._rg):
        return assign_result(self, copy_result(self, src), 'copy_')
    data = src._data if src._device is self._device else src.to(self._device)._data
    try:
        if data.ndim > self._data.ndim:  # (NumPy drops leading 1s; PyTorch never grows the destination)
            raise ValueError
        self._device.xp.copyto(self._data, data, casting='unsafe')
    except ValueError:
        check_overlap(self)
        raise _not_broadcastable(src, self) from None
    self._bump()
    return self
