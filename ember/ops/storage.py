"""Storage-level views and edits: storage_offset, as_strided (a true view of the storage), slice, resize_.

A tensor's storage is the array that owns its memory (its ``.base`` chain's end): views made by the array module
share it, so PyTorch's storage offsets and as_strided's geometry (counted from the storage's first element, not
from the tensor's) can be computed from data pointers. The gradient of as_strided is PyTorch's: the output's
gradient summed into a zero storage at the output's positions, then read at the input's positions (averaged
where the input's own elements overlap), made of tensor ops so it differentiates again.
"""
from ._util import Tensor, norm_dim, _wrap
from ..backends import scatter_add
from .shape import _view


def _ptr(arr, device):
    return arr.__array_interface__['data'][0] if device.type == 'cpu' else arr.data.ptr


def storage_root(arr):
    """The array owning arr's memory: the last array of its ``.base`` chain (NumPy's as_strided puts a holder
    object, itself with a ``.base``, in the chain)."""
    t = type(arr)
    root, b = arr, arr.base
    while b is not None:
        if isinstance(b, t):
            root = b
        b = getattr(b, 'base', None)
    return root


def storage_flat(t):
    """(t's storage as a 1-d array of t's dtype, t's storage offset in elements)."""
    arr = t._data
    root = storage_root(arr)
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        root = arr if arr.flags.c_contiguous else None
        if root is None:
            raise RuntimeError('as_strided: ember cannot reach the storage of this tensor (its memory belongs to a '
                               'non-contiguous foreign buffer); call .contiguous() first')
    flat = root.reshape(-1, order='F' if not root.flags.c_contiguous else 'C')
    if flat.dtype != arr.dtype:
        n = flat.nbytes // arr.itemsize
        flat = flat.view('uint8')[:n * arr.itemsize].view(arr.dtype)
    delta = _ptr(arr, t._device) - _ptr(root, t._device)
    return flat, delta // arr.itemsize


def storage_offset(t):
    return int(storage_flat(t)[1])


def _positions(shape, strides, offset, xp):
    """The storage position of every element of the geometry (shape, strides, offset), as an int64 array."""
    pos = xp.full(tuple(shape), offset, dtype='int64')
    for d, (n, s) in enumerate(zip(shape, strides)):
        idx = [1] * len(shape)
        idx[d] = n
        pos = pos + (xp.arange(n, dtype='int64') * s).reshape(idx)
    return pos


def _check_geometry(size, stride, op='as_strided'):
    if len(size) != len(stride):
        raise RuntimeError('mismatch in length of strides and shape')
    for s in stride:
        if s < 0:
            raise RuntimeError(f'{op}: Negative strides are not supported at the moment, got strides: '
                               f'{list(stride)}')
    if any(n < 0 for n in size):
        raise RuntimeError(f'Storage size calculation overflowed with sizes={list(size)} and strides={list(stride)}')


def _extent(size, stride, offset):
    """Elements of storage the geometry needs (0 when it has no elements)."""
    if any(n == 0 for n in size):
        return 0
    return offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))


def _as_strided_grad(g, in_shape, in_strides, in_off, size, stride, offset):
    xp = g._device.xp
    out_pos = _positions(size, stride, offset, xp).reshape(-1)
    in_pos = _positions(in_shape, in_strides, in_off, xp)
    n = max(_extent(size, stride, offset), _extent(in_shape, [abs(s) for s in in_strides], in_off),
            int(in_pos.max()) + 1 if in_pos.size else 0)
    storage = _wrap(xp.zeros(n, g._data.dtype), g._device)
    storage = storage.index_add(0, _wrap(out_pos, g._device), g.reshape(-1))
    res = storage[_wrap(in_pos, g._device)]
    count = xp.zeros(n, 'int64')
    if in_pos.size:
        scatter_add(count, in_pos.reshape(-1), xp.ones(in_pos.size, 'int64'))
        if int(count.max()) > 1:  # the input's own elements overlap (an expanded input): PyTorch averages
            res = res / _wrap(count[in_pos].astype(g._data.dtype), g._device)
    return res


def _as_strided_step(t, arg):
    """The as_strided view remade from a tensor of the base's shape: a gather of the base's elements (used only to
    rebuild graphs after in-place edits, whose values are written into the shared memory directly)."""
    gidx = _gather_index(*arg, t._device.xp)
    if gidx is None:
        raise RuntimeError('as_strided: an in-place operation on this view, which reaches storage outside its '
                           'base tensor, cannot be differentiated by ember')
    return t.reshape(-1)[_wrap(gidx, t._device)]


def as_strided(input, size, stride, storage_offset=None):
    a = input
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    _check_geometry(size, stride)
    flat, in_off = storage_flat(a)
    offset = in_off if storage_offset is None else int(storage_offset)
    if offset < 0:
        raise RuntimeError(f'Tensor: invalid storage offset {offset}')
    need = _extent(size, stride, offset)
    isz = a._data.itemsize
    if need > flat.size:
        raise RuntimeError(f'setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, and '
                           f'itemsize {isz} requiring a storage size of {need * isz} are out of bounds for storage '
                           f'of size {flat.size * isz}')
    xp = a._device.xp
    data = xp.lib.stride_tricks.as_strided(flat[offset:] if offset < flat.size else flat[:0], shape=size,
                                           strides=tuple(s * isz for s in stride))
    in_shape, in_strides = tuple(a.shape), a.stride()
    geometry = (in_shape, in_strides, in_off, size, stride, offset)
    return _view(data, a, 'AsStridedBackward0', (lambda g: _as_strided_grad(g, *geometry),), _as_strided_step,
                 geometry)


def _gather_index(in_shape, in_strides, in_off, size, stride, offset, xp):
    """For each output element, the index of the input element at the same storage position (None if one is
    outside the input)."""
    in_pos = _positions(in_shape, in_strides, in_off, xp).reshape(-1)
    out_pos = _positions(size, stride, offset, xp).reshape(-1)
    if not out_pos.size:
        return xp.zeros(size, 'int64')
    n = max(int(out_pos.max()), int(in_pos.max()) if in_pos.size else 0) + 1
    inv = xp.full(n, -1, 'int64')
    inv[in_pos] = xp.arange(in_pos.size, dtype='int64')
    gidx = inv[out_pos]
    return None if bool((gidx < 0).any()) else gidx.reshape(size)


def as_strided_(self, size, stride, storage_offset=None):
    """In place: self becomes the as_strided view of its own storage."""
    from ..autograd.grad_mode import _State
    if _State.grad_enabled and self.requires_grad:
        raise RuntimeError('as_strided_: ember does not record in-place geometry changes of tensors that require '
                           'grad; use as_strided')
    with _no_grad():
        v = as_strided(self, size, stride, storage_offset)
    self._data = v._data
    return self


def _no_grad():
    from ..autograd.grad_mode import no_grad
    return no_grad()


def slice_op(input, dim=0, start=None, end=None, step=1):
    """aten.slice: input[..., start:end:step, ...] along dim (a view), bounds clamped as Python slices do."""
    a = input
    if a.ndim == 0:
        raise IndexError('slice() cannot be applied to a 0-dim tensor.')
    d = norm_dim(dim, a.ndim)
    if step <= 0:
        raise RuntimeError('slice step must be positive')
    key = (slice(None),) * d + (slice(start, end, step),)
    return a[key]


def resize_(self, *sizes, memory_format=None):
    """Contiguous geometry ``sizes`` over self's storage from its offset; the storage grows (a new allocation,
    keeping the old contents) when it is too small. Writes are seen by other views while it does not grow."""
    from ..autograd.grad_mode import _State
    from .shape import _sizes
    size = _sizes(sizes)
    if self.requires_grad and _State.grad_enabled:
        raise RuntimeError('cannot resize variables that require grad')
    for n in size:
        if n < 0:
            raise RuntimeError(f'Trying to create tensor with negative dimension {n}: {list(size)}')
    numel = 1
    for n in size:
        numel *= n
    if tuple(size) == tuple(self.shape):
        return self
    xp = self._device.xp
    flat, off = storage_flat(self)
    if off + numel > flat.size:
        grown = xp.empty(off + numel, self._data.dtype)
        grown[:flat.size] = flat
        grown[flat.size:] = 0  # (PyTorch leaves these uninitialised)
        flat = grown
    self._data = flat[off:off + numel].reshape(size)
    self.__dict__.pop('_view', None)
    return self


def resize_as_(self, the_template, *, memory_format=None):
    if not isinstance(the_template, Tensor):
        raise TypeError(f"resize_as_(): argument 'the_template' (position 1) must be Tensor, not "
                        f'{type(the_template).__name__}')
    return resize_(self, tuple(the_template.shape))
