"""Export rules for shape ops: reshape/view, transposes, squeeze, cat/stack/split, expand, repeat, indexing."""
import numpy as np

from .._export import OnnxExportError
from .common import METHOD_RULES, OP_RULES, _dt, _in, _norm, _rule, _shape_arg


# ---- shapes ----------------------------------------------------------------------------------------------------------
def _reshape(g, x, in_shape, target):
    """Reshape to ``target`` (may hold one -1); leading dims equal to the input's become 0 (copied), so symbolic
    batch/sequence dims stay symbolic."""
    spec = list(target)
    for i in range(min(len(spec), len(in_shape))):
        if spec[i] == in_shape[i] and spec[i] != -1:
            spec[i] = 0
        else:
            break
    return g.op('Reshape', [x, g.ints(spec)])


@_rule(OP_RULES, 'reshape', 'view')
def _reshape_rule(g, a, out):
    target = _shape_arg(a[1])
    if -1 not in target:
        target = list(out.shape)
    return _reshape(g, g.name(a[0]), tuple(a[0].shape), target)


@_rule(METHOD_RULES, 'view_as', 'reshape_as')
def _reshape_as(g, a, out):
    return _reshape(g, g.name(a[0]), tuple(a[0].shape), list(out.shape))


@_rule(OP_RULES, 'flatten')
def _flatten(g, a, out):
    x = a[0]
    n = x.ndim
    if n == 0:
        return g.op('Reshape', [g.name(x), g.ints([1])])
    s, e = _norm(a[1] if a[1] is not None else 0, n), _norm(a[2] if a[2] is not None else -1, n)
    spec = [0] * s + [-1] + [int(d) for d in x.shape[e + 1:]]
    return g.op('Reshape', [g.name(x), g.ints(spec)])


@_rule(OP_RULES, 'unflatten')
def _unflatten(g, a, out):
    x = a[0]
    d = _norm(a[1], x.ndim)
    return g.op('Reshape', [g.name(x), g.ints([0] * d + list(out.shape[d:]))])


@_rule(OP_RULES, 'permute')
def _permute(g, a, out):
    dims = _shape_arg(a[1])
    return g.op('Transpose', [g.name(a[0])], perm=[_norm(d, a[0].ndim) for d in dims])


@_rule(OP_RULES, 'transpose', 'swapaxes', 'swapdims')
def _transpose(g, a, out):
    n = a[0].ndim
    perm = list(range(n))
    d0, d1 = _norm(a[1], n), _norm(a[2], n)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return g.op('Transpose', [g.name(a[0])], perm=perm)


@_rule(OP_RULES, 't')
def _t(g, a, out):
    if a[0].ndim < 2:
        return g.op('Identity', [g.name(a[0])])
    return g.op('Transpose', [g.name(a[0])], perm=[1, 0])


@_rule(METHOD_RULES, 'T')
def _T(g, a, out):
    return g.op('Transpose', [g.name(a[0])], perm=list(range(a[0].ndim - 1, -1, -1)))


@_rule(METHOD_RULES, 'mT', 'mH')
def _mT(g, a, out):
    n = a[0].ndim
    perm = list(range(n))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return g.op('Transpose', [g.name(a[0])], perm=perm)


@_rule(OP_RULES, 'movedim', 'moveaxis')
def _movedim(g, a, out):
    n = a[0].ndim
    src = [a[1]] if isinstance(a[1], int) else list(a[1])
    dst = [a[2]] if isinstance(a[2], int) else list(a[2])
    src, dst = [_norm(s, n) for s in src], [_norm(d, n) for d in dst]
    perm = [None] * n
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(n) if i not in src)
    perm = [p if p is not None else next(rest) for p in perm]
    return g.op('Transpose', [g.name(a[0])], perm=perm)


@_rule(OP_RULES, 'unsqueeze')
def _unsqueeze(g, a, out):
    return g.op('Unsqueeze', [g.name(a[0]), g.ints([_norm(a[1], a[0].ndim + 1)])])


@_rule(OP_RULES, 'squeeze')
def _squeeze(g, a, out):
    x = a[0]
    dims = a[1]
    if dims is None:
        axes = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        dims = [dims] if isinstance(dims, int) else list(dims)
        axes = [_norm(d, x.ndim) for d in dims if x.shape[_norm(d, x.ndim)] == 1]
    if not axes:
        return g.op('Identity', [g.name(x)])
    return g.op('Squeeze', [g.name(x), g.ints(axes)])


@_rule(OP_RULES, 'cat', 'concat', 'concatenate')
def _cat(g, a, out):
    ts = [t for t in a[0] if not (t.ndim == 1 and t.shape[0] == 0)]
    dt = _dt(out)
    return g.op('Concat', [_in(g, t, dt) for t in ts], axis=_norm(a[1] or 0, out.ndim))


@_rule(OP_RULES, 'stack')
def _stack(g, a, out):
    d = _norm(a[1] or 0, out.ndim)
    dt = _dt(out)
    parts = [g.op('Unsqueeze', [_in(g, t, dt), g.ints([d])]) for t in a[0]]
    return g.op('Concat', parts, axis=d)


def _split_out(g, x, sizes, axis):
    return g.op('Split', [x, g.ints(sizes)], n_out=len(sizes), axis=axis) if len(sizes) > 1 else \
        [g.op('Identity', [x])]


@_rule(OP_RULES, 'chunk', 'split', 'tensor_split')
def _split(g, a, out):
    x = a[0]
    dim = a.get('dim', a[2] if len(a) > 2 else 0)
    axis = _norm(dim if isinstance(dim, int) else 0, x.ndim)
    sizes = [int(o.shape[axis]) for o in out]
    res = _split_out(g, g.name(x), sizes, axis)
    return res if isinstance(res, list) else [res]


@_rule(OP_RULES, 'unbind')
def _unbind(g, a, out):
    x = a[0]
    axis = _norm(a[1] or 0, x.ndim)
    parts = _split_out(g, g.name(x), [1] * x.shape[axis], axis)
    parts = parts if isinstance(parts, list) else [parts]
    return [g.op('Squeeze', [p, g.ints([axis])]) for p in parts]


@_rule(OP_RULES, 'expand')
def _expand(g, a, out):
    x = a[0]
    sizes = _shape_arg(a[1])
    off = len(sizes) - x.ndim
    spec = [1 if i >= off and (s == -1 or s == x.shape[i - off]) else s for i, s in enumerate(sizes)]
    return g.op('Expand', [g.name(x), g.ints(spec)])


@_rule(METHOD_RULES, 'expand_as')
def _expand_as(g, a, out):
    x = a[0]
    sizes = list(out.shape)
    off = len(sizes) - x.ndim
    spec = [1 if i >= off and s == x.shape[i - off] else s for i, s in enumerate(sizes)]
    return g.op('Expand', [g.name(x), g.ints(spec)])


@_rule(OP_RULES, 'repeat')
def _repeat(g, a, out):
    x = a[0]
    reps = _shape_arg(a[1])
    xn = g.name(x)
    if len(reps) > x.ndim:
        xn = g.op('Unsqueeze', [xn, g.ints(list(range(len(reps) - x.ndim)))])
    return g.op('Tile', [xn, g.ints(reps)])


@_rule(OP_RULES, 'getitem')
def _getitem(g, a, out):
    from ..._tensor import Tensor
    x, key = a[0], a[1]
    if not isinstance(key, tuple):
        key = (key,)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis and not (
        isinstance(k, Tensor) and k._data.dtype == bool))
    if any(isinstance(k, Tensor) and k._data.dtype == bool for k in key):
        raise OnnxExportError("ember.onnx.export: no ONNX export rule for op 'Tensor.__getitem__' with a boolean "
                              "mask (data-dependent shape)")
    expanded = []
    for k in key:
        if k is Ellipsis:
            expanded += [slice(None)] * (x.ndim - n_real)
        else:
            expanded.append(k)
    name, axis = g.name(x), 0
    starts, ends, axes, steps, squeeze, unsq = [], [], [], [], [], []
    gathers = []
    out_axis = 0
    for k in expanded:
        if k is None:
            unsq.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, slice):
            st = 1 if k.step is None else int(k.step)
            if st <= 0:
                raise OnnxExportError('ember.onnx.export: slices need a positive step')
            if k != slice(None):
                starts.append(0 if k.start is None else int(k.start))
                ends.append(2 ** 62 if k.stop is None else int(k.stop))
                axes.append(axis)
                steps.append(st)
            axis += 1
            out_axis += 1
        elif isinstance(k, Tensor) or isinstance(k, (list, np.ndarray)):
            gathers.append((axis, k))
            axis += 1
            out_axis += 1
        else:
            i = int(k)
            starts.append(i)
            ends.append(i + 1 if i != -1 else 2 ** 62)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
            axis += 1
    if len(gathers) > 1:
        raise OnnxExportError("ember.onnx.export: no ONNX export rule for op 'Tensor.__getitem__' with more than one "
                              "index tensor")
    if starts:
        name = g.op('Slice', [name, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if gathers:
        gax, idx = gathers[0]
        if squeeze and any(s < gax for s in squeeze):
            raise OnnxExportError("ember.onnx.export: integer indices before an index tensor are not supported")
        name = g.op('Gather', [name, _in(g, idx, np.int64)], axis=gax)
        idx_nd = idx.ndim if isinstance(idx, Tensor) else np.asarray(idx).ndim
        squeeze = [s + idx_nd - 1 if s > gax else s for s in squeeze]
    if squeeze:
        name = g.op('Squeeze', [name, g.ints(squeeze)])
    if unsq:
        name = g.op('Unsqueeze', [name, g.ints(unsq)])
    if name == g.name(x):
        name = g.op('Identity', [name])
    return name
