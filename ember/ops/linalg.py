"""Products: matmul/@ (1-D, 2-D, batched with broadcasting), mm, bmm, mv, dot, outer, einsum — all through BLAS."""
import string

from .. import _tensor_core as _core  # (_core.Tensor: ember.Tensor itself, for the dense fast path)
from ._util import Tensor, record, unbroadcast, same_device, _wrap, broadcast_error, renamed
from ..amp.autocast_mode import state as _amp, cast_inputs as _amp_cast


def _check_pair(a, b, op):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        bad = b if isinstance(a, Tensor) else a
        raise TypeError(f'{op}(): argument must be Tensor, not {type(bad).__name__}')
    same_device(a, b, op)
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f'expected m1 and m2 to have the same dtype, but got: {a.dtype.name} != {b.dtype.name}'
                           f' ({op})')


def _shape_str(s):
    return 'x'.join(map(str, s))


def _mm_core(a, b):
    """a @ b for a.ndim >= 2 and b.ndim >= 2 (batch dims broadcast)."""
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f'mat1 and mat2 shapes cannot be multiplied ({_shape_str(a.shape)} and '
                           f'{_shape_str(b.shape)})')
    sa, sb = a.shape, b.shape
    try:
        data = a._data @ b._data
    except ValueError:  # batch dims that do not broadcast
        raise broadcast_error(sa[:-2], sb[:-2]) from None
    if data.dtype != a._data.dtype:  # bfloat16 (ml_dtypes) matmul accumulates in float32: round back, as PyTorch
        data = data.astype(a._data.dtype)
    return record(data, a._device, (a, b), 'MmBackward0' if a.ndim == 2 and b.ndim == 2 else
                  'BmmBackward0', (lambda g: unbroadcast(_mm_core(g, b.mT), sa),
                                   lambda g: unbroadcast(_mm_core(a.mT, g), sb)), (a, b))


def matmul(a, b):
    if (type(a) is not _core.Tensor or type(b) is not _core.Tensor) and (getattr(a, 'is_sparse', False) or
                                                                      getattr(b, 'is_sparse', False)):
        from ..sparse import matmul as sparse_matmul
        return sparse_matmul(a, b)
    if _amp.active:
        a, b = _amp_cast(a, b)
    _check_pair(a, b, 'matmul')
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f'both arguments to matmul need to be at least 1D, but they are {a.ndim}D and '
                           f'{b.ndim}D')
    if a.ndim == 1 and b.ndim == 1:
        return dot(a, b)
    if a.ndim == 1:
        return renamed(_mm_core(a.unsqueeze(0), b).squeeze(-2), 'SqueezeBackward4', a, b)  # PyTorch's nodes
    if b.ndim == 1:
        if a.shape[-1] != b.shape[0]:
            raise RuntimeError(f'size mismatch, got input ({_shape_str(a.shape)}), vec ({b.shape[0]})')
        return renamed(_mm_core(a, b.unsqueeze(1)).squeeze(-1), 'MvBackward0' if a.ndim == 2 else 'UnsafeViewBackward0',
                       a, b)
    out = _mm_core(a, b)
    return out if a.ndim == 2 and b.ndim == 2 else renamed(out, 'UnsafeViewBackward0', a, b)  # (batched, folded)


def mm(a, b):
    if (type(a) is not _core.Tensor or type(b) is not _core.Tensor) and (getattr(a, 'is_sparse', False) or
                                                                      getattr(b, 'is_sparse', False)):
        from ..sparse import mm as sparse_mm
        return sparse_mm(a, b)
    if _amp.active:
        a, b = _amp_cast(a, b)
    _check_pair(a, b, 'mm')
    if a.ndim != 2:
        raise RuntimeError(f'self must be a matrix (mm got a {a.ndim}-D tensor of shape {tuple(a.shape)})')
    if b.ndim != 2:
        raise RuntimeError(f'mat2 must be a matrix (mm got a {b.ndim}-D tensor of shape {tuple(b.shape)})')
    return _mm_core(a, b)


def bmm(a, b):
    if _amp.active:
        a, b = _amp_cast(a, b)
    _check_pair(a, b, 'bmm')
    if a.ndim != 3:
        raise RuntimeError(f'batch1 must be a 3D tensor, got shape {tuple(a.shape)}')
    if b.ndim != 3:
        raise RuntimeError(f'batch2 must be a 3D tensor, got shape {tuple(b.shape)}')
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f'Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, '
                           f'{a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].')
    return _mm_core(a, b)


def mv(a, v):
    _check_pair(a, v, 'mv')
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f'vector + matrix @ vector expected, got {a.ndim}, {v.ndim} (mv of shapes '
                           f'{tuple(a.shape)} and {tuple(v.shape)})')
    return renamed(matmul(a, v), 'MvBackward0', a, v)


def dot(a, b):
    _check_pair(a, b, 'dot')
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f'1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors')
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f'inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have '
                           f'the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively')
    xp = a._device.xp
    return record(xp.asarray(xp.dot(a._data, b._data)), a._device, (a, b), 'DotBackward0',
                  (lambda g: g * b, lambda g: g * a), (a, b))


def inner(a, b):
    """Sum of products over the last dims: dot for vectors, a.shape[:-1] + b.shape[:-1] in general."""
    _check_pair(a, b, 'inner')
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim == 1 and b.ndim == 1:
        return dot(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f'inner() the last dimension must match on both input tensors but got shapes '
                           f'{list(a.shape)} and {list(b.shape)}')
    n = a.shape[-1]
    return (a.reshape(-1, n) @ b.reshape(-1, n).t()).reshape(a.shape[:-1] + b.shape[:-1])


def outer(a, b):
    _check_pair(a, b, 'outer')
    return a.reshape(-1, 1) * b.reshape(1, -1)


def ger(a, b):
    return outer(a, b)


def addmm(bias, a, b, *, beta=1, alpha=1):
    out = mm(a, b)
    if alpha != 1:
        out = out * alpha
    return renamed(out + (bias * beta if beta != 1 else bias), 'AddmmBackward0', bias, a, b)


def _parse_einsum(equation, operands):
    eq = equation.replace(' ', '')
    lhs, arrow, rhs = eq.partition('->')
    ins = lhs.split(',')
    if len(ins) != len(operands):
        raise RuntimeError(f'einsum(): {len(ins)} operands were specified in the equation but {len(operands)} '
                           f'were given')
    used = set(c for c in eq if c.isalpha())
    free = [c for c in string.ascii_letters if c not in used]
    ell_n = 0
    for sub, op in zip(ins, operands):
        if '...' in sub:
            ell_n = max(ell_n, op.ndim - (len(sub) - 3))
    ell = ''.join(free[:ell_n])
    subs = []
    for sub, op in zip(ins, operands):
        if '...' in sub:
            k = op.ndim - (len(sub) - 3)
            sub = sub.replace('...', ell[ell_n - k:] if k else '')
        if len(sub) != op.ndim:
            raise RuntimeError(f'einsum(): the number of subscripts in the equation ({len(sub)}) does not match '
                               f'the number of dimensions ({op.ndim}) for operand {len(subs)}')
        subs.append(sub)
    sizes = {}
    for i, (sub, op) in enumerate(zip(subs, operands)):
        for c, n in zip(sub, op.shape):
            seen = sizes.setdefault(c, n)
            if n != seen and 1 not in (n, seen):
                raise RuntimeError(f'einsum(): subscript {c} has size {n} for operand {i} which does not broadcast '
                                   f'with previously seen size {seen}')
            if seen == 1:
                sizes[c] = n
    if arrow:
        out = rhs.replace('...', ell)
    else:
        counts = {}
        for s in subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + ''.join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return subs, out


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    subs, out = _parse_einsum(equation, operands)
    first = operands[0]
    for op in operands[1:]:
        same_device(first, op, 'einsum')
    xp = first._device.xp
    spec = ','.join(subs) + '->' + out
    data = xp.einsum(spec, *[o._data for o in operands], optimize=len(operands) > 2)
    if not hasattr(data, 'ndim'):
        data = xp.asarray(data)
    fns = tuple(_einsum_grad(i, subs, out, operands) for i in range(len(operands)))
    return record(data, first._device, tuple(operands), 'EinsumBackward0', fns, tuple(operands))


def _einsum_grad(i, subs, out, operands):
    target = subs[i]

    def grad(g):
        others = [(s, o) for j, (s, o) in enumerate(zip(subs, operands)) if j != i]
        have = set(out).union(*[set(s) for s, _ in others]) if others else set(out)
        kept = ''.join(c for c in dict.fromkeys(target) if c in have)
        spec = ','.join([out] + [s for s, _ in others]) + '->' + kept
        r = einsum(spec, g, *[o for _, o in others])
        if kept == target:
            return r
        if len(set(target)) == len(target):  # dims only this operand had were summed away: broadcast them back
            shape = [operands[i].shape[target.index(c)] for c in target]
            for pos, c in enumerate(target):
                if c not in kept:
                    r = r.unsqueeze(pos)
            return r.expand(shape)
        return _spread_repeated(r, kept, target, operands[i], subs, out)
    return grad


def _spread_repeated(r, kept, target, op, subs, out):
    """The gradient for an operand with a repeated subscript ('ii->i'): r lives on the diagonal, which identity
    matrices tying each repeat to its first occurrence place back; dims only this operand had get ones."""
    from .._creation import eye, ones
    used = set(''.join(subs) + out)
    fresh = iter(c for c in string.ascii_letters if c not in used)
    sizes = dict(zip(target, op.shape))
    renamed, seen, specs, consts = [], set(), [kept], [r]
    for c in target:
        if c in seen:
            f = next(fresh)
            renamed.append(f)
            specs.append(c + f)
            consts.append(eye(sizes[c], dtype=op.dtype, device=op.device))
        else:
            seen.add(c)
            renamed.append(c)
    for c in dict.fromkeys(target):
        if c not in kept:
            specs.append(c)
            consts.append(ones(sizes[c], dtype=op.dtype, device=op.device))
    return einsum(','.join(specs) + '->' + ''.join(renamed), *consts)
