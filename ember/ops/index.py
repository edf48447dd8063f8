"""Indexing: reading and writing with slices/None/Ellipsis/int arrays/bool masks, gather/scatter, index_select."""
import builtins
import warnings

from ._util import Tensor, record, norm_dim, unbroadcast, same_device, fit_scalar, KERNEL_NAMES, _wrap, renamed
from ..backends import scatter_add as _scatter_add, checks_values, host_cast
from .shape import _view
from .inplace import check_inplace_leaf, rebind_inplace, check_overlap, overlaps, _OVERLAP
from ..autograd.grad_mode import _State
from .scatter import gather, scatter, scatter_add, scatter_reduce  # noqa: F401  (re-exported: index ops' home)


class _Split(tuple):
    """A key applied in two steps, as PyTorch does when ints meet advanced indices: ``(basic, advanced)``.

    PyTorch selects with the ints first, so they never count as advanced indices; NumPy would count them and move
    the advanced dims to the front when an int and an array are separated by a slice (``x[0, :, [1, 3]]``).
    """


def _holds(k):
    """Whether a translated key keeps index arrays (an advanced key), which a backward using it then holds."""
    return any(hasattr(x, 'dtype') for x in (_adv(k) if isinstance(_adv(k), tuple) else (_adv(k),)))


def key_tensors(key):
    """The tensors inside an indexing key (index and mask tensors): a backward reading the key declares them saved,
    so an in-place edit of one fails it, as in PyTorch, rather than moving the gradient."""
    if isinstance(key, Tensor):
        return (key,)
    if isinstance(key, (tuple, list)):
        return tuple(t for x in key for t in key_tensors(x))
    return ()


def _base(arr, k):
    """The array the (advanced part of the) key applies to: a basic-indexed view for a split key."""
    return arr[k[0]] if type(k) is _Split else arr


def _adv(k):
    return k[1] if type(k) is _Split else k


def _split_ints(key):
    first, second = [], []
    for x in key:
        if type(x) is builtins.int:
            first.append(x)
        elif hasattr(x, 'dtype'):
            first += [slice(None)] * (x.ndim if x.dtype.kind == 'b' else 1)
            second.append(x)
        else:  # slice, None, Ellipsis: applied in the first step, passed over in the second
            first.append(x)
            second.append(Ellipsis if x is Ellipsis else slice(None))
    return _Split((tuple(first), tuple(second)))


def _key(key, a):
    """Translate an index (possibly holding tensors or lists) into an array-module key; report if it is basic."""
    if type(key) is _Split:
        return key, False
    if not isinstance(key, tuple):
        key = (key,)
    out, basic = [], True
    xp = a._device.xp
    for k in key:
        if isinstance(k, Tensor):
            same_device(a, k, 'index')
            if k._data.dtype.kind == 'f':
                raise IndexError('tensors used as indices must be long, int, byte or bool tensors')
            if k.ndim == 0 and k._data.dtype.kind != 'b':
                out.append(int(k._data))
                continue
            out.append(k._data)
            basic = False
        elif isinstance(k, (list, range)):
            arr = xp.asarray(k) if len(k) else xp.zeros(0, 'int64')  # (an empty list indexes nothing)
            if arr.dtype.kind == 'f':
                raise IndexError('tensors used as indices must be long, int, byte or bool tensors')
            out.append(arr)
            basic = False
        elif hasattr(k, 'dtype') and hasattr(k, 'ndim') and not isinstance(k, (builtins.int,)):
            if k.ndim == 0 and k.dtype.kind in 'iu':
                out.append(int(k))
            else:
                out.append(xp.asarray(k))
                basic = False
        else:
            if type(k) is slice and k.step is not None and k.step <= 0:
                raise ValueError('step must be greater than zero')
            out.append(k)
    if not basic and builtins.any(type(x) is builtins.int for x in out):
        return _split_ints(out), basic
    return tuple(out), basic


def _index_error(e, shape):
    msg = str(e).replace(' for axis ', ' for dimension ')
    if msg.startswith('too many indices'):
        msg = f'too many indices for tensor of dimension {len(shape)}'
    return IndexError(f'{msg} (indexing a tensor of shape {tuple(shape)})')


def _basic_name(key):
    """The node PyTorch's basic indexing ends with: that of the last index that is not a bare ':' (ints select,
    slices slice, None unsqueezes; ``x[...]`` is an alias)."""
    if type(key) is int:  # the common cases first: x[0], x[1:3]
        return 'SelectBackward0'
    if type(key) is slice:
        return 'SliceBackward0'
    items = key if isinstance(key, tuple) else (key,)
    seen_slice = False
    for it in reversed(items):
        if it is Ellipsis:
            continue
        if it is None:
            return 'UnsqueezeBackward0'
        if isinstance(it, slice):
            if it.start is None and it.stop is None and it.step is None:
                seen_slice = True
                continue
            return 'SliceBackward0'
        return 'SelectBackward0'
    return 'SliceBackward0' if seen_slice else 'AliasBackward0'


def getitem(a, key):
    k, basic = _key(key, a)
    shape, xp = a.shape, a._device.xp
    try:
        data = _base(a._data, k)[_adv(k)]
    except IndexError as e:
        raise _index_error(e, shape) from None
    if basic:
        if not isinstance(data, xp.ndarray):
            # a single element: index again with a trailing Ellipsis to get a 0-d view, not a copied scalar
            data = a._data[(k if isinstance(k, tuple) else (k,)) + (Ellipsis,)]
        return _view(data, a, _basic_name(key),
                     (lambda g: index_backward(g, shape, k, True),), getitem, k)
    return record(data, a._device, (a,), 'IndexBackward0', (lambda g: index_backward(g, shape, k, False),),
                  key_tensors(key), holds=_holds(k))


def index_backward(g, shape, k, basic):
    """The gradient of ``x[k]``: g placed (summed, for repeated indices) into zeros of x's shape."""
    xp = g._device.xp
    z = xp.zeros(shape, dtype=g._data.dtype)
    if basic or _unique_positions(k):
        _base(z, k)[_adv(k)] = g._data
    else:
        _scatter_add(_base(z, k), _adv(k), g._data)
    return record(z, g._device, (g,), 'IndexBackwardBackward0', (lambda gg: getitem(gg, k),), holds=_holds(k))


def _unique_positions(k):
    # a single boolean mask selects each element at most once, so plain assignment is exact (and much faster)
    arrays = [x for x in _adv(k) if hasattr(x, 'dtype')]
    return len(arrays) == 1 and arrays[0].dtype.kind == 'b'


def _is_mask(k):
    """Whether an advanced key is one bool mask (PyTorch fills through it with a 0-dim value of any dtype)."""
    arrays = [x for x in _adv(k) if hasattr(x, 'dtype')]
    return len(arrays) == 1 and arrays[0].dtype.kind == 'b'


def setitem(a, key, value):
    """``a[key] = value`` in place; differentiable for a and value as PyTorch's index_put_."""
    check_inplace_leaf(a, 'index_put_', value, False)
    k, basic = _key(key, a)
    d = a._data
    if d.base is not None and 0 in d.strides and overlaps(d) and _check_overlapping_dest(a, k, basic, value):
        # (an expand: the write goes through the view of the selected region, so that under autograd the base's
        # overwritten elements are found through it; the expand's other rows alias them and must not count twice)
        setitem(getitem(a, key), Ellipsis, value)
        return a
    v = value
    if isinstance(value, Tensor):
        same_device(a, value, 'index_put_')
        vd = value._data
        if not basic and vd.dtype != a._data.dtype and not (value.numel() == 1 and _is_mask(k)):
            getitem(a.detach(), key)  # (an invalid key is reported first, as in PyTorch)
            raise RuntimeError(f'Index put requires the source and destination dtypes match, got '
                               f'{KERNEL_NAMES[a._data.dtype.name]} for the destination and '
                               f'{KERNEL_NAMES[vd.dtype.name]} for the source.')
    else:
        vd = value
    # (a value's gradient cannot flow into an integer tensor)
    track = _State.grad_enabled and (a.requires_grad or (isinstance(value, Tensor) and value.requires_grad and
                                                         a._data.dtype.kind == 'f'))
    if isinstance(value, (builtins.int, builtins.float)):  # a number stored into the dtype: checked, as fill_
        vd = fit_scalar(value, a._data.dtype)
    if not track:
        _set(a, k, vd, basic)
        a._bump()
        return a
    old = a._snapshot()
    fns = [lambda g: _zero_at(g, k)]
    ins = [old]
    if isinstance(v, Tensor):
        vs = v.shape
        vdt = v.dtype
        fns.append(lambda g: _value_grad(getitem(g, k), vs).to(vdt))
        ins.append(v)
    _set(a, k, vd, basic)
    a._bump()
    node_holder = record(a._data, a._device, tuple(ins), 'IndexPutBackward0', tuple(fns), key_tensors(key),
                         holds=_holds(k))
    rebind_inplace(a, node_holder)
    return a


def _check_overlapping_dest(a, k, basic, value):
    """PyTorch's checks of a write into a tensor whose elements overlap: a basic key's region must take the value
    (expand's error first), then must not overlap itself; an advanced key writes anyway, with PyTorch's warning."""
    if not basic:
        warnings.warn('Use of index_put_ on expanded tensors is deprecated. Please clone() the tensor before '
                      'performing this operation. This also applies to advanced indexing e.g. tensor[indices] = '
                      'tensor', UserWarning, stacklevel=4)
        return False
    region = a._data[k]
    if isinstance(value, Tensor):
        v = value
        while v.ndim > len(region.shape) and v.shape[0] == 1:  # (leading size-1 dims are dropped, as in _set)
            v = v[0]
        v.expand(region.shape)
    if overlaps(region):
        raise RuntimeError(_OVERLAP)
    return True


def _value_grad(g, vs):
    """The assigned value's gradient: the indexed region's, summed over the dims the value was broadcast along;
    a value may also carry extra leading size-1 dims (``y[3] = v`` with v of shape (1, 4)), as in PyTorch."""
    extra = len(vs) - g.ndim
    if extra <= 0:
        return unbroadcast(g, vs)
    return unbroadcast(g, vs[extra:]).reshape(vs)


def setitem_method(a, key, value):
    """``Tensor.__setitem__``: setitem, returning None as Python's protocol does."""
    setitem(a, key, value)


def _set(a, k, vd, basic=False):
    try:
        _base(a._data, k)[_adv(k)] = vd
    except IndexError as e:
        raise _index_error(e, a.shape) from None
    except ValueError as e:  # the value does not broadcast to the indexed shape
        lead = 0
        while lead < getattr(vd, 'ndim', 0) and vd.shape[lead] == 1:
            lead += 1
        if lead:  # leading size-1 dims, which PyTorch drops (NumPy does too, except into a single element)
            return _set(a, k, vd.reshape(vd.shape[lead:]), basic)
        check_overlap(a)
        if basic and hasattr(vd, 'shape'):  # PyTorch copies into the selected view: expand's error
            _wrap(vd, a._device).expand(a._data[k].shape)
        raise RuntimeError(f'shape mismatch: value tensor of shape {list(getattr(vd, "shape", ()))} cannot be '
                           f'broadcast to indexing result ({e})') from None


def _zero_at(g, k):
    z = g._data.copy()
    _base(z, k)[_adv(k)] = 0
    return record(z, g._device, (g,), 'IndexPutBackwardBackward0', (lambda gg: _zero_at(gg, k),), holds=_holds(k))


def index_select(a, dim, index):
    if not isinstance(index, Tensor) or index.ndim > 1 or index._data.dtype.kind not in 'iu':
        raise IndexError('index_select(): Expected index to be a 1-D tensor of integers')
    d = norm_dim(dim, a.ndim)
    if not a.ndim:
        if index.numel() != 1:
            raise RuntimeError(f'index_select(): Index to scalar can have only 1 value, got {index.numel()} value(s)')
        return renamed(getitem(a.reshape(1), index.reshape(-1)).reshape(()), 'IndexSelectBackward0', a)
    if not a.shape[d] and index.numel():
        if a.ndim == 1:
            raise IndexError('index out of range in self')
        raise RuntimeError('index_select(): self indexing axis dim should be positive')
    return renamed(getitem(a, (slice(None),) * d + (index.reshape(-1),)), 'IndexSelectBackward0', a)


def _check_index_add(a, d, index, source):
    """PyTorch's checks of an index_add call, in its order."""
    if index.ndim > 1:
        raise IndexError(f'index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: '
                         f'{KERNEL_NAMES.get(index.dtype.name, index.dtype.name)} and size: {list(index.shape)}')
    if index._data.dtype.name not in ('int32', 'int64'):
        raise RuntimeError(f'index_add_(): Expected dtype int32/int64 for index but got: '
                           f'{KERNEL_NAMES.get(index.dtype.name, index.dtype.name)}')
    if source._data.dtype != a._data.dtype:
        raise RuntimeError(f'index_add_(): self ({KERNEL_NAMES[a.dtype.name]}) and source '
                           f'({KERNEL_NAMES[source.dtype.name]}) must have the same scalar type')
    if d >= builtins.max(source.ndim, 1):
        raise RuntimeError(f'index_add_(): Indexing dim {d} is out of bounds of the source tensor with dim '
                           f'{source.ndim}')
    n_src = source.shape[d] if source.ndim else 1
    if index.numel() != n_src:
        raise RuntimeError(f'index_add_(): Number of indices ({index.numel()}) should be equal to source.size(dim): '
                           f'({n_src}), for dim: {d}')
    if source.ndim != a.ndim or any(i != d and source.shape[i] != a.shape[i] for i in range(a.ndim)):
        raise RuntimeError(f'source tensor shape must match self tensor shape, excluding the specified dimension. '
                           f'Got self.shape = {list(a.shape)} source.shape = {list(source.shape)}')
    n = a.shape[d] if a.ndim else 1
    if index.numel() and checks_values(a._device) and not ((index._data >= 0) & (index._data < n)).all():
        raise IndexError('index out of range in self')


def index_add(a, dim, index, source, *, alpha=1):
    same_device(a, index, 'index_add')
    same_device(a, source, 'index_add')
    d = norm_dim(dim, a.ndim)
    _check_index_add(a, d, index, source)
    if not a.ndim:  # a 0-dim self adds along a one-element vector
        return renamed(index_add(a.reshape(1), 0, index.reshape(-1), source.reshape(1), alpha=alpha).reshape(()),
                       'IndexAddBackward0', a)
    if a._data.dtype.kind in 'iub' and not isinstance(alpha, builtins.bool):
        alpha = builtins.int(alpha)  # alpha in self's dtype, as PyTorch casts it
    data = a._data.copy()
    key = (slice(None),) * d + (index._data.reshape(-1),)
    src = source._data * alpha if alpha != 1 else source._data
    _scatter_add(data, key, src.astype(data.dtype, copy=False))
    return record(data, a._device, (a, source), 'IndexAddBackward0',
                  (lambda g: g, lambda g: g.index_select(d, index.reshape(-1)) * alpha), (index,))


def masked_fill(a, mask, value):
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != 'b':
        raise RuntimeError(f'masked_fill_ only supports boolean masks, but got mask with dtype '
                           f'{getattr(mask, "dtype", type(mask).__name__)}')
    from .elementwise import where
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f'masked_fill_ only supports a 0-dimensional value tensor, but got tensor with '
                               f'{value.ndim} dimension(s).')
        if a._data.dtype.kind in 'iu' and value._data.dtype.kind in 'fiu' and value.numel():
            fit_scalar(value.item(), a._data.dtype)
        value = value.to(a.dtype)
    else:  # the value the dtype stores, computed without a device round trip
        value = host_cast(fit_scalar(value, a._data.dtype), a._data.dtype)
    out = where(mask, value, a)  # (out of place, a and the mask broadcast together, as in PyTorch)
    return renamed(out, 'MaskedFillBackward1' if isinstance(value, Tensor) else 'MaskedFillBackward0', a)


def masked_select(a, mask):
    xp = a._device.xp
    shape = xp.broadcast_shapes(a.shape, mask.shape) if hasattr(xp, 'broadcast_shapes') else a.shape
    return getitem(a.expand(shape), mask.expand(shape))


def take(a, index):
    return renamed(getitem(a.reshape(-1), index), 'TakeBackward0', a)


def nonzero(a, *, as_tuple=False):
    xp = a._device.xp
    if not a.ndim:  # a 0-dim tensor has one element and no dims: one (or no) row of zero indices
        if as_tuple:
            return (_wrap(xp.zeros(int(a._data != 0), 'int64'), a._device),)
        return _wrap(xp.zeros((int(a._data != 0), 0), 'int64'), a._device)
    idx = xp.nonzero(a._data)
    if as_tuple:
        return tuple(_wrap(i.astype('int64'), a._device) for i in idx)
    return _wrap(xp.stack(idx, axis=1).astype('int64') if idx else xp.zeros((0, 0), 'int64'), a._device)


def argwhere(a):
    return nonzero(a)


def index_put_acc(a, indices, values):
    """``a.index_put_(indices, values, accumulate=True)`` computed out of place."""
    k, _ = _key(indices, a)
    data = a._data.copy()
    _scatter_add(_base(data, k), _adv(k), values._data)
    vs = values.shape
    return record(data, a._device, (a, values), 'IndexPutBackward0',
                  (lambda g: g, lambda g: unbroadcast(getitem(g, k), vs)), key_tensors(indices), holds=True)
