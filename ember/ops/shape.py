"""Shape ops: views (reshape, permute, expand, ...), joins (cat, stack), splits (via indexing), flips and rolls."""
import builtins

from ._util import (Tensor, record, norm_dim, norm_dims, unbroadcast, same_device, renamed,
                    KERNEL_NAMES)
from .._dtype import result_type
from ..backends import reshape_nocopy
from ..autograd.grad_mode import _State


def _sizes(args, op=None, arg=None):
    """Accept f(2, 3), f((2, 3)), f([2, 3]) and f(Size) alike (``op``: refuse no sizes at all, as PyTorch does)."""
    if not args and op is not None:
        raise TypeError(f'{op}() missing 1 required positional arguments: "{arg}"')
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(s) for s in args)


def _view(data, a, name, fns, step, arg):
    """Record a result that shares a's memory; views share the version counter so in-place edits are seen.

    The view also remembers how it was made from ``a`` (``step(a, arg)`` with tensor ops redoes it, also on a
    gradient of a's shape) and the grad mode it was made in: an in-place op on the view rewrites the graph of the
    base it views (see ops.inplace.rebind_inplace). One tuple per view; ``_wrap`` itself pays nothing.
    """
    out = record(data, a._device, (a,), name, fns)
    if a._vc is None:
        a._vc = [0]
    out._vc = a._vc
    out._view = (a, step, arg, _State.grad_enabled)
    return out


# view steps: (tensor, arg) -> the same view of that tensor, made with tensor ops (so differentiable)
def _same(a, arg):
    return a


def _reshape_step(a, shape):
    return reshape(a, shape)


def _squeeze_step(a, dims):
    return squeeze(a, dims)


def _unsqueeze_step(a, d):
    return unsqueeze(a, d)


def _permute_step(a, dims):
    return permute(a, dims)


def _transpose_step(a, dims):
    return transpose(a, dims[0], dims[1])


def _expand_step(a, shape):
    return expand(a, shape)


def _diagonal_step(a, arg):
    return diagonal(a, *arg)


def _infer(shape, numel):
    shape = list(shape)
    if shape.count(-1) > 1:
        raise RuntimeError('only one dimension can be inferred')
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f'invalid shape dimension {s}')
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[shape.index(-1)] = numel // known
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


def _by_keyword(sizes, value, op, name):
    """The sizes given positionally, or by PyTorch's keyword (x.reshape(shape=(2, 3)), x.permute(dims=(1, 0)))."""
    if sizes:
        raise TypeError(f"{op}() got multiple values for argument '{name}'")
    return (value,)


def reshape(a, *sizes, shape=None):
    if shape is not None:
        sizes = _by_keyword(sizes, shape, 'reshape', 'shape')
    shape = _infer(_sizes(sizes), a._data.size)
    old = a.shape
    if shape == old:
        return _view(a._data, a, 'ViewBackward0', (lambda g: g,), _same, None)
    arr = a._data
    data = arr.reshape(shape)
    b = data.base
    if b is not None and (b is arr or b is arr.base):
        return _view(data, a, 'ViewBackward0', (lambda g: g.reshape(old),), _reshape_step, shape)
    # the array module had to copy (its result is based on the copy): not a view, as in PyTorch
    return record(data, a._device, (a,), 'UnsafeViewBackward0', (lambda g: g.reshape(old),))


def view(a, *shape, size=None):
    if size is not None:
        shape = _by_keyword(shape, size, 'view', 'size')
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)) and shape[0] is not None:
        return a.to(shape[0]) if not hasattr(shape[0], '__index__') else reshape(a, *shape)
    shape = _infer(_sizes(shape), a._data.size)
    try:
        data = reshape_nocopy(a._data, shape)
    except (ValueError, AttributeError, TypeError):
        raise RuntimeError(f'view size is not compatible with input tensor\'s size and stride (at least one '
                           f'dimension spans across two contiguous subspaces); input shape {tuple(a.shape)}, '
                           f'requested {shape}. Use .reshape(...) instead.') from None
    old = a.shape
    return _view(data, a, 'ViewBackward0', (lambda g: g.reshape(old),), _reshape_step, shape)


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        norm_dim(start_dim, 0), norm_dim(end_dim, 0)
        return reshape(a, 1)
    s, e = norm_dim(start_dim, a.ndim), norm_dim(end_dim, a.ndim)
    if s > e:
        raise RuntimeError('flatten() has invalid args: start_dim cannot come after end_dim')
    shape = a.shape
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(a, shape[:s] + (n,) + shape[e + 1:])


def unflatten(a, dim, sizes):
    d = norm_dim(dim, a.ndim)
    sizes = list(sizes)
    if -1 in sizes:
        known = 1
        for s in sizes:
            if s != -1:
                known *= s
        sizes[sizes.index(-1)] = a.shape[d] // known
    n = 1
    for s in sizes:
        n *= s
    if n != a.shape[d]:
        raise RuntimeError(f'unflatten: Provided sizes {list(sizes)} don\'t multiply up to the size of dim {dim} '
                           f'({a.shape[d]}) in the input tensor')
    return reshape(a, a.shape[:d] + tuple(sizes) + a.shape[d + 1:])


def squeeze(a, dim=None):
    if dim is None:
        dims = tuple(i for i, n in enumerate(a.shape) if n == 1)
    else:  # (an empty tuple squeezes nothing, where norm_dims would read it as every dim)
        dims = tuple(d for d in norm_dims(dim, a.ndim) if a.ndim and a.shape[d] == 1) if not isinstance(
            dim, (tuple, list)) or len(dim) else ()
    # PyTorch's overloads: squeeze() / squeeze(int) / squeeze(tuple)
    name = 'SqueezeBackward0' if dim is None else 'SqueezeBackward1' if isinstance(dim, int) else 'SqueezeBackward2'
    if not dims:
        return _view(a._data, a, name, (lambda g: g,), _same, None)
    old = a.shape
    return _view(a._data.squeeze(dims), a, name, (lambda g: g.reshape(old),), _squeeze_step, dims)


def unsqueeze(a, dim):
    d = norm_dim(dim, a.ndim + 1)
    old = a.shape
    return _view(a._device.xp.expand_dims(a._data, d), a, 'UnsqueezeBackward0', (lambda g: g.reshape(old),),
                 _unsqueeze_step, d)


def permute(a, *sizes, dims=None):
    if dims is not None:
        sizes = _by_keyword(sizes, dims, 'permute', 'dims')
    dims = _sizes(sizes, 'permute', 'dims')
    if len(dims) != a.ndim:
        raise RuntimeError(f'permute(): number of dims don\'t match: input.dim() = {a.ndim} but '
                           f'len(dims) = {len(dims)}')
    dims = tuple(norm_dim(d, a.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f'permute(): duplicate dims are not allowed: {dims}')
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return _view(a._data.transpose(dims), a, 'PermuteBackward0', (lambda g: g.permute(inv),), _permute_step, dims)


def transpose(a, dim0, dim1):
    if a.ndim == 0:
        norm_dim(dim0, 0), norm_dim(dim1, 0)
        return _view(a._data, a, 'TransposeBackward0', (lambda g: g,), _same, None)
    d0, d1 = norm_dim(dim0, a.ndim), norm_dim(dim1, a.ndim)
    return _view(a._data.swapaxes(d0, d1), a, 'TransposeBackward0', (lambda g: g.transpose(d0, d1),),
                 _transpose_step, (d0, d1))


def t(a):
    if a.ndim > 2:
        raise RuntimeError(f't() expects a tensor with <= 2 dimensions, but self is {a.ndim}D')
    if a.ndim == 2:
        return renamed(transpose(a, 0, 1), 'TBackward0', a)
    return _view(a._data, a, 'TBackward0', (lambda g: g,), _same, None)


def movedim(a, source, destination):
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    src = [norm_dim(s, a.ndim) for s in src]
    dst = [norm_dim(s, a.ndim) for s in dst]
    order = [d for d in range(a.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(a, order)


def expand(a, *size):
    sizes = _sizes(size, 'expand', 'size')
    if len(sizes) < a.ndim:
        raise RuntimeError(f'expand(torch.FloatTensor{{{list(a.shape)}}}, size=[{len(sizes)}]): the number of sizes '
                           f'provided ({len(sizes)}) must be greater or equal to the number of dimensions in the '
                           f'tensor ({a.ndim})')
    lead = len(sizes) - a.ndim
    shape = tuple(a.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    for i, n in enumerate(a.shape):
        if n != 1 and n != shape[i + lead]:
            raise RuntimeError(f'The expanded size of the tensor ({shape[i + lead]}) must match the existing size '
                               f'({n}) at non-singleton dimension {i + lead}.  Target sizes: {list(sizes)}.  Tensor '
                               f'sizes: {list(a.shape)}')
    if shape == a.shape:
        return _view(a._data, a, 'ExpandBackward0', (lambda g: g,), _same, None)
    old = a.shape
    data = a._device.xp.broadcast_to(a._data, shape)
    if data.size == a._data.size:  # only dims of size 1 added: a writeable view (broadcast_to's is read-only)
        data = a._data.reshape(shape)
    elif getattr(data.flags, 'writeable', True) is False and getattr(a._data.flags, 'writeable', False):
        # PyTorch's expand is a view that can be written through (``e[0].add_(1)``, ``e.fill_(1)``); a write
        # that would hit one element twice is refused by ops.inplace.check_inplace_leaf, not by NumPy
        data.flags.writeable = True
    return _view(data, a, 'ExpandBackward0', (lambda g: unbroadcast(g, old),), _expand_step, shape)


def broadcast_to(a, shape):
    return expand(a, shape)


def repeat(a, *repeats):
    sizes = _sizes(repeats, 'repeat', 'repeats')
    if len(sizes) < a.ndim:
        raise RuntimeError('Number of dimensions of repeat dims can not be smaller than number of dimensions of '
                           'tensor')
    old = (1,) * (len(sizes) - a.ndim) + a.shape
    data = a._device.xp.tile(a._data.reshape(old), sizes)
    orig = a.shape

    def grad(g):
        inter = []
        for r, s in zip(sizes, old):
            inter += [r, s]
        return g.reshape(inter).sum(tuple(range(0, 2 * len(sizes), 2))).reshape(orig)
    return record(data, a._device, (a,), 'RepeatBackward0', (grad,))


def _common(tensors, op):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f'{op}(): expected a non-empty list of Tensors')
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f'{op}(): expected a sequence of Tensors, but element {i} is {type(t).__name__}')
    first = tensors[0]
    dt = first.dtype
    for t in tensors[1:]:
        same_device(first, t, op)
        if t._data.dtype != first._data.dtype:
            dt = result_type(dt, 2, t.dtype, 2)
    if any(t.dtype is not dt for t in tensors):
        tensors = [t.to(dt) for t in tensors]
    return tensors


def cat(tensors, dim=0):
    inputs = _common(tensors, 'cat')
    for i, t in enumerate(inputs):
        if not t.ndim:
            raise RuntimeError(f'zero-dimensional tensor (at position {i}) cannot be concatenated')
    if all(t.ndim == 1 and not t.shape[0] for t in inputs):  # only legacy empties: any dim goes
        dim = 0
    # PyTorch skips legacy 1-D empty tensors in cat (they still get an empty gradient)
    tensors = [t for t in inputs if not (t.ndim == 1 and t.shape[0] == 0)] or inputs[:1]
    ref = tensors[0]
    d = norm_dim(dim, ref.ndim)
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim:
            raise RuntimeError(f'Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}')
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(f'Sizes of tensors must match except in dimension {d}. Expected size '
                                   f'{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list.')
    data = ref._device.xp.concatenate([t._data for t in tensors], axis=d)
    fns, off = [], 0
    for t in inputs:
        if t.ndim == 1 and t.shape[0] == 0:
            fns.append(_empty_grad)
            continue
        n = t.shape[d]
        fns.append(_slicer(d, off, n))
        off += n
    return record(data, ref._device, tuple(inputs), 'CatBackward0', tuple(fns))


def _empty_grad(g):
    return g.reshape(-1)[:0]


def _slicer(d, start, length):
    key = (slice(None),) * d + (slice(start, start + length),)
    return lambda g: g[key]


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = _common(tensors, 'stack')
    ref = tensors[0]
    norm_dim(dim, ref.ndim + 1)  # (checked first, as in PyTorch)
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise RuntimeError(f'stack expects each tensor to be equal size, but got {list(ref.shape)} at entry 0 '
                               f'and {list(t.shape)} at entry {i}')
    d = norm_dim(dim, ref.ndim + 1)
    data = ref._device.xp.stack([t._data for t in tensors], axis=d)
    key = (slice(None),) * d
    fns = tuple((lambda g, i=i: g[key + (i,)]) for i in range(len(tensors)))
    return record(data, ref._device, tuple(tensors), 'StackBackward0', fns)


def hstack(tensors):
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


def split(a, split_size_or_sections, dim=0):
    d = norm_dim(dim, a.ndim)
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size < 0:
            raise RuntimeError(f'split expects split_size be non-negative, but got split_size={size}')
        if size == 0 and n:
            raise RuntimeError(f'split_size can only be 0 if dimension size is 0, but got dimension size of {n}')
        sizes = [builtins.min(size, n - i) for i in range(0, n, size)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(f'split_with_sizes expects split_sizes to sum exactly to {n} (input tensor\'s size at '
                               f'dimension {d}), but got split_sizes={sizes}')
    out, off = [], 0
    name = 'SplitBackward0' if isinstance(split_size_or_sections, int) else 'SplitWithSizesBackward0'
    for s in sizes:
        out.append(renamed(a[(slice(None),) * d + (slice(off, off + s),)], name, a))
        off += s
    return tuple(out)


def tensor_split(a, indices_or_sections, dim=0):
    if not a.ndim:
        raise RuntimeError('tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims')
    spec = indices_or_sections
    if isinstance(spec, Tensor):  # a 0-dim tensor counts sections, a 1-dim one lists indices
        if spec._data.dtype.name != 'int64':
            raise RuntimeError(f'tensor_split expected tensor_indices_or_sections to have dtype of long, but got '
                               f'{KERNEL_NAMES.get(spec.dtype.name, spec.dtype.name)}')
        if spec.ndim > 1:
            raise RuntimeError(f'tensor_split expected tensor_indices_or_sections to be a zero-dimensional or '
                               f'one-dimensional tensor, but got a tensor with {spec.ndim} dims')
        spec = spec.item() if not spec.ndim else spec.tolist()
    d = norm_dim(dim, a.ndim)
    n = a.shape[d]
    if isinstance(spec, int):
        if spec <= 0:
            raise RuntimeError(f'number of sections must be larger than 0, got {spec}')
        q, r = divmod(n, spec)
        sizes = [q + 1] * r + [q] * (spec - r)
        bounds = [builtins.sum(sizes[:i]) for i in range(1, spec)]
    else:
        bounds = [int(i) for i in spec]
    # each piece is the Python slice between two neighbouring indices (negative ones count from the end)
    edges = [None] + bounds + [None]
    key = (slice(None),) * d
    return tuple(renamed(a[key + (slice(edges[i], edges[i + 1]),)], 'SliceBackward0', a)
                 for i in range(len(edges) - 1))


def chunk(a, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f'chunk expects `chunks` to be greater than 0, got: {chunks}')
    d = norm_dim(dim, a.ndim)
    n = a.shape[d]
    if not n:  # an empty dim splits into `chunks` empty pieces
        return tuple(a[(slice(None),) * d + (slice(0, 0),)] for _ in range(chunks))
    return split(a, -(-n // chunks), d)


def unbind(a, dim=0):
    d = norm_dim(dim, a.ndim)
    key = (slice(None),) * d
    return tuple(renamed(a[key + (i,)], 'UnbindBackward0', a) for i in range(a.shape[d]))


def narrow(a, dim, start, length):
    d = norm_dim(dim, a.ndim)
    n = a.shape[d]
    if not -n <= start <= n:
        raise IndexError(f'start out of range (expected to be in range of [{-n}, {n}], but got {start})')
    if start < 0:
        start += n
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise RuntimeError(f'start ({start}) + length ({length}) exceeds dimension size ({n}).')
    return a[(slice(None),) * d + (slice(start, start + length),)]


def select(a, dim, index):
    d = norm_dim(dim, a.ndim)
    n = a.shape[d]
    if not -n <= index < n:
        raise IndexError(f'select(): index {index} out of range for tensor of size {list(a.shape)} at dimension {d}')
    return a[(slice(None),) * d + (index,)]


def flip(a, *args, dims=None):
    if dims is not None and args:
        raise TypeError("flip() got multiple values for argument 'dims'")
    dims = _sizes(args, 'flip', 'dims') if dims is None else _sizes((dims,))
    dims = norm_dims(dims, a.ndim) if dims else ()
    # (a copy, as PyTorch's: NumPy's flip is a view, which in-place writes to ``a`` would show through)
    return record(a._device.xp.flip(a._data, axis=dims).copy(), a._device, (a,), 'FlipBackward0',
                  (lambda g: g.flip(dims),))


def fliplr(a):
    if a.ndim < 2:
        raise RuntimeError('Input must be >= 2-d.')
    return flip(a, 1)


def flipud(a):
    if a.ndim < 1:
        raise RuntimeError('Input must be >= 1-d.')
    return flip(a, 0)


def roll(a, shifts, dims=None):
    xp = a._device.xp
    if not a._data.size:  # nothing to move (PyTorch checks no dims then)
        return record(a._data.copy(), a._device, (a,), 'RollBackward0', (lambda g: g,))
    if dims is None:
        flat = a.reshape(-1)
        return renamed(roll(flat, shifts, 0).reshape(a.shape), 'RollBackward0', a)
    shifts_t = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims_t = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts_t) != len(dims_t):
        raise RuntimeError(f'shifts and dimensions must align. shifts: {len(shifts_t)}, dims:{len(dims_t)}')
    dims_t = tuple(norm_dim(d, a.ndim) for d in dims_t)
    back = tuple(-s for s in shifts_t)
    return record(xp.roll(a._data, shifts_t, axis=dims_t), a._device, (a,), 'RollBackward0',
                  (lambda g: g.roll(back, dims_t),))


def contiguous(a, memory_format=None):
    if a._data.flags.c_contiguous:
        return a
    return record(a._device.xp.ascontiguousarray(a._data), a._device, (a,), 'CloneBackward0', (lambda g: g,))


def tril(a, diagonal=0):
    if a.ndim < 2:
        raise RuntimeError('tril: input tensor must have at least 2 dimensions')
    return record(a._device.xp.tril(a._data, diagonal), a._device, (a,), 'TrilBackward0',
                  (lambda g: g.tril(diagonal),))


def triu(a, diagonal=0):
    if a.ndim < 2:
        raise RuntimeError('triu: input tensor must have at least 2 dimensions')
    return record(a._device.xp.triu(a._data, diagonal), a._device, (a,), 'TriuBackward0',
                  (lambda g: g.triu(diagonal),))


def _diagonal_array(arr, offset, d1, d2, xp):
    """A writeable view of arr's diagonal (NumPy's own diagonal view is read-only): the last dim of the result."""
    if d1 == d2:
        raise RuntimeError(f'diagonal dimensions cannot be identical {d1}, {d2}')
    m = xp.moveaxis(arr, (d1, d2), (-2, -1))
    r0, c0 = builtins.max(-offset, 0), builtins.max(offset, 0)
    n = builtins.max(0, builtins.min(m.shape[-2] - r0, m.shape[-1] - c0))
    m = m[..., r0:, c0:] if n else m[..., :0, :0]  # (empty: a writeable empty view all the same)
    return xp.lib.stride_tricks.as_strided(m, shape=m.shape[:-2] + (n,), strides=m.strides[:-2] + (
        m.strides[-2] + m.strides[-1],))


def _diagonal_grad(shape, offset, d1, d2):
    def grad(g):
        xp = g._device.xp
        z = xp.zeros(shape, dtype=g._data.dtype)
        if g._data.size:
            _diagonal_array(z, offset, d1, d2, xp)[...] = g._data
        # differentiable again (create_graph): the gradient of this scatter is the diagonal of its gradient
        return record(z, g._device, (g,), 'DiagonalBackwardBackward0', (lambda gg: diagonal(gg, offset, d1, d2),))
    return grad


def diagonal(a, offset=0, dim1=0, dim2=1):
    """A view of the diagonal(s), as in PyTorch: in-place edits of it change ``a``."""
    d1, d2 = norm_dim(dim1, a.ndim), norm_dim(dim2, a.ndim)
    data = _diagonal_array(a._data, offset, d1, d2, a._device.xp)
    return _view(data, a, 'DiagonalBackward0', (_diagonal_grad(a.shape, offset, d1, d2),), _diagonal_step,
                 (offset, d1, d2))


def diag(a, diagonal=0):
    xp = a._device.xp
    if a.ndim == 1:
        return record(xp.diag(a._data, diagonal), a._device, (a,), 'DiagEmbedBackward0',
                      (lambda g: g.diagonal(diagonal),))
    if a.ndim != 2:
        raise RuntimeError(f'diag(): Supports 1D or 2D tensors. Got {a.ndim}D')
    # a copy, not a view (PyTorch's diag of a matrix is a new tensor)
    return record(_diagonal_array(a._data, diagonal, 0, 1, xp).copy(), a._device, (a,), 'DiagBackward0',
                  (_diagonal_grad(a.shape, diagonal, 0, 1),))
