"""ONNX export rules: one per tensor op, ember.nn.functional function and library module the tracer can meet."""
import math

import numpy as np

from ._export import OnnxExportError, onnx_type

OP_RULES, METHOD_RULES, F_RULES, MODULE_RULES = {}, {}, {}, {}


def _rule(table, *names):
    def deco(fn):
        for n in names:
            table[n] = fn
        return fn
    return deco


def _is_tensor(v):
    from .._tensor import Tensor
    return isinstance(v, Tensor)


def _dt(t):
    return t._data.dtype


def _in(g, v, dtype=None):
    """An operand's ONNX name, cast to ``dtype`` when it differs; Python numbers become constants of ``dtype``."""
    if _is_tensor(v):
        name = g.name(v)
        if dtype is not None and _dt(v) != np.dtype(dtype):
            name = g.op('Cast', [name], to=onnx_type(dtype))
        return name
    if dtype is None:
        dtype = np.float32 if isinstance(v, float) else np.int64
    return g.const(np.asarray(v, dtype=dtype))


def _norm(d, n):
    n = max(n, 1)
    if not -n <= d < n:
        raise OnnxExportError(f'ember.onnx.export: dim {d} out of range for a {n}-D tensor')
    return d % n


def _shape_arg(v):
    """A shape given as *sizes or as one sequence."""
    if len(v) == 1 and isinstance(v[0], (list, tuple)):
        v = v[0]
    return [int(s) for s in v]


def _reduce(g, op_type, x, axes, keepdims):
    """ReduceX with ``axes`` (None: all), as an attribute (opset < 18, except ReduceSum) or an input."""
    if axes is None:
        return g.op(op_type, [x], keepdims=int(keepdims))
    axes = list(axes)
    if op_type == 'ReduceSum' or g.opset >= 18:
        return g.op(op_type, [x, g.ints(axes)], keepdims=int(keepdims))
    return g.op(op_type, [x], axes=axes, keepdims=int(keepdims))


# ---- elementwise -----------------------------------------------------------------------------------------------------
def _binary(op_type, swap=False, compare=False):
    def rule(g, a, out):
        x, y = (a[1], a[0]) if swap else (a[0], a[1])
        if compare:
            kinds = [v for v in (x, y) if _is_tensor(v)]
            dt = np.result_type(*[_dt(t) for t in kinds])
        else:
            dt = _dt(out)
        alpha = a.get('alpha', 1)
        yn = _in(g, y, dt)
        if alpha not in (None, 1):
            yn = g.op('Mul', [yn, _in(g, alpha, dt)])
        return g.op(op_type, [_in(g, x, dt), yn])
    return rule


for _names, _op in ((('add',), 'Add'), (('sub', 'subtract'), 'Sub'), (('mul', 'multiply'), 'Mul'),
                    (('maximum', 'fmax'), 'Max'), (('minimum', 'fmin'), 'Min'), (('pow',), 'Pow'),
                    (('logical_and', 'bitwise_and'), 'And'), (('logical_or', 'bitwise_or'), 'Or'),
                    (('logical_xor', 'bitwise_xor'), 'Xor')):
    _rule(OP_RULES, *_names)(_binary(_op))
_rule(OP_RULES, 'rsub')(_binary('Sub', swap=True))
_rule(OP_RULES, 'rdiv')(_binary('Div', swap=True))
_rule(OP_RULES, 'rpow')(_binary('Pow', swap=True))
for _names, _op in ((('eq',), 'Equal'), (('lt', 'less'), 'Less'), (('le', 'less_equal'), 'LessOrEqual'),
                    (('gt', 'greater'), 'Greater'), (('ge', 'greater_equal'), 'GreaterOrEqual')):
    _rule(OP_RULES, *_names)(_binary(_op, compare=True))


@_rule(OP_RULES, 'ne', 'not_equal')
def _ne(g, a, out):
    return g.op('Not', [_binary('Equal', compare=True)(g, a, out)])


@_rule(OP_RULES, 'div', 'divide', 'true_divide')
def _div(g, a, out):
    q = _binary('Div')(g, a, out)
    mode = a.get('rounding_mode')
    if mode == 'floor':
        return g.op('Floor', [q]) if _dt(out).kind == 'f' else q
    if mode == 'trunc':
        raise OnnxExportError("ember.onnx.export: no ONNX export rule for op 'div' with rounding_mode='trunc'")
    return q


def _unary(op_type):
    def rule(g, a, out):
        return g.op(op_type, [_in(g, a[0], _dt(out))])
    return rule


for _name, _op in (('neg', 'Neg'), ('negative', 'Neg'), ('abs', 'Abs'), ('absolute', 'Abs'), ('exp', 'Exp'),
                   ('log', 'Log'), ('sqrt', 'Sqrt'), ('reciprocal', 'Reciprocal'), ('sin', 'Sin'), ('cos', 'Cos'),
                   ('tan', 'Tan'), ('tanh', 'Tanh'), ('sigmoid', 'Sigmoid'), ('relu', 'Relu'), ('floor', 'Floor'),
                   ('ceil', 'Ceil'), ('round', 'Round'), ('sign', 'Sign'), ('erf', 'Erf'), ('atan', 'Atan'),
                   ('arctan', 'Atan'), ('logical_not', 'Not'), ('isnan', 'IsNaN')):
    _rule(OP_RULES, _name)(_unary(_op))


@_rule(OP_RULES, 'identity', 'contiguous', 'clone', 'detach', 'cpu', 'cuda', 'requires_grad_')
def _identity(g, a, out):
    return g.op('Identity', [g.name(a[0])])


@_rule(OP_RULES, 'rsqrt')
def _rsqrt(g, a, out):
    return g.op('Reciprocal', [g.op('Sqrt', [_in(g, a[0], _dt(out))])])


@_rule(OP_RULES, 'square')
def _square(g, a, out):
    x = _in(g, a[0], _dt(out))
    return g.op('Mul', [x, x])


@_rule(OP_RULES, 'log1p')
def _log1p(g, a, out):
    dt = _dt(out)
    return g.op('Log', [g.op('Add', [_in(g, a[0], dt), _in(g, 1, dt)])])


@_rule(OP_RULES, 'expm1')
def _expm1(g, a, out):
    dt = _dt(out)
    return g.op('Sub', [g.op('Exp', [_in(g, a[0], dt)]), _in(g, 1, dt)])


def _logb(base):
    def rule(g, a, out):
        dt = _dt(out)
        return g.op('Div', [g.op('Log', [_in(g, a[0], dt)]), _in(g, math.log(base), dt)])
    return rule


OP_RULES['log2'], OP_RULES['log10'] = _logb(2.0), _logb(10.0)


@_rule(OP_RULES, 'clamp', 'clip')
def _clamp(g, a, out):
    dt = _dt(out)
    x, lo, hi = _in(g, a[0], dt), a[1], a[2]
    if _is_tensor(lo) or _is_tensor(hi):
        if lo is not None:
            x = g.op('Max', [x, _in(g, lo, dt)])
        if hi is not None:
            x = g.op('Min', [x, _in(g, hi, dt)])
        return x
    return g.op('Clip', [x, _in(g, lo, dt) if lo is not None else '', _in(g, hi, dt) if hi is not None else ''])


@_rule(OP_RULES, 'where')
def _where(g, a, out):
    cond, x, y = a[0], a[1], a[2]
    dt = _dt(out)
    return g.op('Where', [_in(g, cond, np.bool_), _in(g, x, dt), _in(g, y, dt)])


@_rule(METHOD_RULES, 'where')
def _where_method(g, a, out):
    dt = _dt(out)
    return g.op('Where', [_in(g, a[1], np.bool_), _in(g, a[0], dt), _in(g, a[2], dt)])


@_rule(OP_RULES, 'masked_fill')
def _masked_fill(g, a, out):
    dt = _dt(out)
    value = a[2].item() if _is_tensor(a[2]) and not g.is_dynamic(a[2]) else a[2]
    return g.op('Where', [_in(g, a[1], np.bool_), _in(g, value, dt), _in(g, a[0], dt)])


@_rule(OP_RULES, 'lerp')
def _lerp(g, a, out):
    dt = _dt(out)
    s, e = _in(g, a[0], dt), _in(g, a[1], dt)
    return g.op('Add', [s, g.op('Mul', [_in(g, a[2], dt), g.op('Sub', [e, s])])])


# ---- casts -----------------------------------------------------------------------------------------------------------
def _cast_to_out(g, a, out):
    x = g.name(a[0])
    if _dt(a[0]) == _dt(out):
        return g.op('Identity', [x])
    return g.op('Cast', [x], to=onnx_type(_dt(out)))


for _name in ('to', 'float', 'double', 'half', 'long', 'int', 'short', 'char', 'byte', 'bool', 'type_as', 'type'):
    METHOD_RULES[_name] = _cast_to_out


# ---- products --------------------------------------------------------------------------------------------------------
@_rule(OP_RULES, 'matmul', 'mm', 'bmm', 'mv', 'dot', 'inner')
def _matmul(g, a, out):
    if a[0].ndim == 1 and a[1].ndim == 1:
        return g.op('ReduceSum', [g.op('Mul', [g.name(a[0]), g.name(a[1])])], keepdims=0)
    return g.op('MatMul', [g.name(a[0]), g.name(a[1])])


@_rule(OP_RULES, 'rmatmul')
def _rmatmul(g, a, out):
    return g.op('MatMul', [g.name(a[1]), g.name(a[0])])


@_rule(OP_RULES, 'addmm')
def _addmm(g, a, out):
    beta, alpha = a.get('beta', 1), a.get('alpha', 1)
    return g.op('Gemm', [g.name(a[1]), g.name(a[2]), _in(g, a[0], _dt(out))], alpha=float(alpha), beta=float(beta))


def emit_linear(g, x, weight, bias):
    """x @ weight.T + bias; a constant weight is stored transposed (one MatMul, or Gemm for 2-D inputs)."""
    xn = g.name(x)
    if x.ndim == 2 and not g.is_dynamic(weight) and (bias is None or not g.is_dynamic(bias)):
        ins = [xn, g.name(weight)] + ([g.name(bias)] if bias is not None else [])
        return g.op('Gemm', ins, transB=1)
    if g.is_dynamic(weight):
        wt = g.op('Transpose', [g.name(weight)], perm=[1, 0])
    else:
        pname = g.param_names.get(id(weight))
        wt = g.const(np.ascontiguousarray(weight.detach().cpu().numpy().T),
                     name=(pname + '_transposed') if pname else None)
    y = g.op('MatMul', [xn, wt])
    if bias is not None:
        y = g.op('Add', [y, g.name(bias)])
    return y


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
    from .._tensor import Tensor
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


# ---- reductions ------------------------------------------------------------------------------------------------------
def _dims(a, x):
    d = a.get('dim', a[1])
    if d is None:
        d = a.get('axis')
    if d is None or d == ():
        return None
    return [_norm(v, x.ndim) for v in ([d] if isinstance(d, int) else d)]


def _keep(a):
    k = a.get('keepdim')
    if k is None:
        k = a.get('keepdims')
    return bool(k)


@_rule(OP_RULES, 'sum')
def _sum(g, a, out):
    x = a[0]
    y = _reduce(g, 'ReduceSum', _in(g, x, _dt(out)), _dims(a, x), _keep(a))
    return y


@_rule(OP_RULES, 'mean')
def _mean(g, a, out):
    x = a[0]
    return _reduce(g, 'ReduceMean', _in(g, x, _dt(out)), _dims(a, x), _keep(a))


def _minmax(op_type, arg_type):
    def rule(g, a, out):
        x = a[0]
        if _is_tensor(a[1]):
            return g.op('Max' if op_type == 'ReduceMax' else 'Min', [g.name(x), g.name(a[1])])
        dims = _dims(a, x)
        if isinstance(out, tuple):  # (values, indices) over one dim
            d = dims[0]
            vals = _reduce(g, op_type, g.name(x), [d], _keep(a))
            idx = g.op(arg_type, [g.name(x)], axis=d, keepdims=int(_keep(a)))
            return [vals, idx]
        return _reduce(g, op_type, g.name(x), dims, _keep(a))
    return rule


_rule(OP_RULES, 'max', 'amax')(_minmax('ReduceMax', 'ArgMax'))
_rule(OP_RULES, 'min', 'amin')(_minmax('ReduceMin', 'ArgMin'))


def _arg(op_type):
    def rule(g, a, out):
        x, d = a[0], a[1]
        if d is None:
            return g.op(op_type, [g.op('Reshape', [g.name(x), g.ints([-1])])], axis=0, keepdims=0)
        return g.op(op_type, [g.name(x)], axis=_norm(d, x.ndim), keepdims=int(_keep(a)))
    return rule


_rule(OP_RULES, 'argmax')(_arg('ArgMax'))
_rule(OP_RULES, 'argmin')(_arg('ArgMin'))


def _softmax_dim(a, x):
    d = a.get('dim', a[1])
    if d is None:
        d = 0 if x.ndim in (0, 1, 3) else 1
    return _norm(d, x.ndim)


@_rule(OP_RULES, 'softmax')
def _softmax(g, a, out):
    return g.op('Softmax', [_in(g, a[0], _dt(out))], axis=_softmax_dim(a, a[0]))


@_rule(OP_RULES, 'log_softmax')
def _log_softmax(g, a, out):
    return g.op('LogSoftmax', [_in(g, a[0], _dt(out))], axis=_softmax_dim(a, a[0]))


@_rule(OP_RULES, 'logsumexp')
def _logsumexp(g, a, out):
    x = a[0]
    return _reduce(g, 'ReduceLogSumExp', g.name(x), _dims(a, x), _keep(a)) if g.opset >= 18 else \
        g.op('ReduceLogSumExp', [g.name(x)], axes=_dims(a, x), keepdims=int(_keep(a)))


# ---- activations (shared by ember.*, ember.nn.functional.* and the modules) ------------------------------------------
def emit_gelu(g, x, dtype, approximate='none'):
    half = g.const(np.asarray(0.5, dtype))
    one = g.const(np.asarray(1.0, dtype))
    if approximate == 'tanh':
        c = g.const(np.asarray(math.sqrt(2 / math.pi), dtype))
        k = g.const(np.asarray(0.044715, dtype))
        cube = g.op('Mul', [g.op('Mul', [x, x]), x])
        inner = g.op('Mul', [c, g.op('Add', [x, g.op('Mul', [k, cube])])])
        return g.op('Mul', [g.op('Mul', [half, x]), g.op('Add', [one, g.op('Tanh', [inner])])])
    r2 = g.const(np.asarray(math.sqrt(2.0), dtype))
    return g.op('Mul', [g.op('Mul', [half, x]), g.op('Add', [one, g.op('Erf', [g.op('Div', [x, r2])])])])


def emit_activation(g, kind, x, dtype, **p):
    c = lambda v: g.const(np.asarray(v, dtype))  # noqa: E731
    if kind == 'relu':
        return g.op('Relu', [x])
    if kind == 'relu6':
        return g.op('Clip', [x, c(0.0), c(6.0)])
    if kind == 'hardtanh':
        return g.op('Clip', [x, c(p.get('min_val', -1.0)), c(p.get('max_val', 1.0))])
    if kind == 'leaky_relu':
        return g.op('LeakyRelu', [x], alpha=float(p.get('negative_slope', 0.01)))
    if kind == 'elu':
        return g.op('Elu', [x], alpha=float(p.get('alpha', 1.0)))
    if kind == 'selu':
        return g.op('Selu', [x])
    if kind == 'celu':
        return g.op('Celu', [x], alpha=float(p.get('alpha', 1.0)))
    if kind == 'gelu':
        return emit_gelu(g, x, dtype, p.get('approximate', 'none'))
    if kind == 'silu':
        return g.op('Mul', [x, g.op('Sigmoid', [x])])
    if kind == 'mish':
        return g.op('Mul', [x, g.op('Tanh', [g.op('Softplus', [x])])])
    if kind == 'sigmoid':
        return g.op('Sigmoid', [x])
    if kind == 'tanh':
        return g.op('Tanh', [x])
    if kind == 'softplus':
        beta, threshold = float(p.get('beta', 1.0)), float(p.get('threshold', 20.0))
        bx = g.op('Mul', [x, c(beta)]) if beta != 1 else x
        sp = g.op('Softplus', [bx])
        if beta != 1:
            sp = g.op('Div', [sp, c(beta)])
        return g.op('Where', [g.op('Greater', [bx, c(threshold)]), x, sp])
    if kind == 'hardsigmoid':
        return g.op('HardSigmoid', [x], alpha=1.0 / 6, beta=0.5)
    if kind == 'hardswish':
        return g.op('HardSwish', [x])
    if kind == 'softsign':
        return g.op('Softsign', [x])
    if kind == 'logsigmoid':
        return g.op('Neg', [g.op('Softplus', [g.op('Neg', [x])])])
    raise OnnxExportError(f"ember.onnx.export: no ONNX export rule for activation '{kind}'")


_ACTS = ('relu', 'relu6', 'hardtanh', 'leaky_relu', 'elu', 'selu', 'celu', 'gelu', 'silu', 'mish', 'sigmoid', 'tanh',
         'softplus', 'hardsigmoid', 'hardswish', 'softsign', 'logsigmoid')


def _f_act(kind):
    def rule(g, a, out):
        params = {k: v for k, v in a.named.items() if k not in ('input', 'inplace')}
        return emit_activation(g, kind, _in(g, a[0], _dt(out)), _dt(out), **params)
    return rule


for _k in _ACTS:
    F_RULES[_k] = _f_act(_k)
    F_RULES[_k + '_'] = _f_act(_k)
OP_RULES['silu'] = OP_RULES.get('silu') or _f_act('silu')
F_RULES['softmax'] = _softmax
F_RULES['log_softmax'] = _log_softmax


@_rule(F_RULES, 'dropout', 'dropout1d', 'dropout2d', 'dropout3d', 'alpha_dropout', 'feature_alpha_dropout')
def _f_dropout(g, a, out):
    if a.get('training', True) and (a.get('p', 0.5) or 0) > 0:
        raise OnnxExportError('ember.onnx.export: dropout in training mode cannot be exported (call model.eval() or '
                              'pass training=False)')
    return g.op('Identity', [g.name(a[0])])


@_rule(F_RULES, 'linear')
def _f_linear(g, a, out):
    return emit_linear(g, a[0], a[1], a[2])


# ---- convolution, pooling, normalization -----------------------------------------------------------------------------
def _tuple(v, n):
    return [int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)] * n


def emit_conv(g, x, weight, bias, nd, stride, padding, dilation, groups):
    k = list(weight.shape[2:])
    dil = _tuple(dilation, nd)
    if isinstance(padding, str):
        if padding == 'valid':
            pads = [0] * (2 * nd)
        else:
            total = [d * (kk - 1) for d, kk in zip(dil, k)]
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _tuple(padding, nd)
        pads = p + p
    ins = [g.name(x), g.name(weight)] + ([g.name(bias)] if bias is not None else [])
    return g.op('Conv', ins, kernel_shape=k, strides=_tuple(stride, nd), pads=pads, dilations=dil, group=int(groups))


def _conv_rule(nd):
    def rule(g, a, out):
        return emit_conv(g, a[0], a[1], a[2], nd, a.get('stride', 1), a.get('padding', 0), a.get('dilation', 1),
                         a.get('groups', 1))
    return rule


for _nd in (1, 2, 3):
    F_RULES[f'conv{_nd}d'] = _conv_rule(_nd)


def emit_pool(g, kind, x, nd, kernel, stride, padding, dilation=1, ceil_mode=False, count_include_pad=True):
    k = _tuple(kernel, nd)
    s = _tuple(stride if stride not in (None, ()) and stride != [] else kernel, nd)
    p = _tuple(padding, nd)
    if kind == 'max':
        return g.op('MaxPool', [x], kernel_shape=k, strides=s, pads=p + p, dilations=_tuple(dilation, nd),
                    ceil_mode=int(bool(ceil_mode)))
    return g.op('AveragePool', [x], kernel_shape=k, strides=s, pads=p + p, ceil_mode=int(bool(ceil_mode)),
                count_include_pad=int(bool(count_include_pad)))


def _pool_rule(kind, nd):
    def rule(g, a, out):
        if a.get('return_indices'):
            raise OnnxExportError(f"ember.onnx.export: no ONNX export rule for {kind}_pool{nd}d with "
                                  f"return_indices=True")
        if a.get('divisor_override'):
            raise OnnxExportError(f'ember.onnx.export: avg_pool{nd}d with divisor_override has no ONNX rule')
        return emit_pool(g, kind, g.name(a[0]), nd, a[1], a.get('stride'), a.get('padding', 0),
                         a.get('dilation', 1), a.get('ceil_mode', False), a.get('count_include_pad', True))
    return rule


for _nd in (1, 2, 3):
    F_RULES[f'max_pool{_nd}d'] = _pool_rule('max', _nd)
    F_RULES[f'avg_pool{_nd}d'] = _pool_rule('avg', _nd)


def emit_adaptive(g, kind, x, nd, output_size):
    sizes = [int(s) for s in x.shape[-nd:]]
    outs = _tuple(output_size, nd)
    outs = [s if o is None else o for s, o in zip(sizes, outs)]
    xn = g.name(x)
    if all(o == 1 for o in outs):
        return g.op('GlobalAveragePool' if kind == 'avg' else 'GlobalMaxPool', [xn])
    if any(s % o for s, o in zip(sizes, outs)):
        raise OnnxExportError(f'ember.onnx.export: adaptive_{kind}_pool{nd}d from {sizes} to {outs} (not a divisor) '
                              f'has no ONNX rule')
    k = [s // o for s, o in zip(sizes, outs)]
    return emit_pool(g, kind, xn, nd, k, k, 0)


def _adaptive_rule(kind, nd):
    def rule(g, a, out):
        if kind == 'max' and a.get('return_indices'):
            raise OnnxExportError('ember.onnx.export: adaptive max pooling with return_indices has no ONNX rule')
        return emit_adaptive(g, kind, a[0], nd, a[1])
    return rule


for _nd in (1, 2, 3):
    F_RULES[f'adaptive_avg_pool{_nd}d'] = _adaptive_rule('avg', _nd)
    F_RULES[f'adaptive_max_pool{_nd}d'] = _adaptive_rule('max', _nd)


def emit_batch_norm(g, x, mean, var, weight, bias, eps):
    c = x.shape[1]
    dt = _dt(x)
    scale = g.name(weight) if weight is not None else g.const(np.ones(c, dt))
    shift = g.name(bias) if bias is not None else g.const(np.zeros(c, dt))
    return g.op('BatchNormalization', [g.name(x), scale, shift, g.name(mean), g.name(var)], epsilon=float(eps))


@_rule(F_RULES, 'batch_norm')
def _f_batch_norm(g, a, out):
    if a.get('training') or a[1] is None:
        raise OnnxExportError('ember.onnx.export: batch_norm in training mode (batch statistics) cannot be exported; '
                              'call model.eval()')
    return emit_batch_norm(g, a[0], a[1], a[2], a.get('weight'), a.get('bias'), a.get('eps', 1e-5))


def emit_layer_norm(g, x, normalized_shape, weight, bias, eps):
    k = len(normalized_shape)
    dt = _dt(x)
    shape = list(x.shape[-k:])
    scale = g.name(weight) if weight is not None else g.const(np.ones(shape, dt))
    xn = g.name(x)
    if g.opset >= 17:
        ins = [xn, scale] + ([g.name(bias)] if bias is not None else [])
        return g.op('LayerNormalization', ins, axis=-k, epsilon=float(eps))
    axes = list(range(x.ndim - k, x.ndim))
    mu = _reduce(g, 'ReduceMean', xn, axes, True)
    d = g.op('Sub', [xn, mu])
    var = _reduce(g, 'ReduceMean', g.op('Mul', [d, d]), axes, True)
    y = g.op('Div', [d, g.op('Sqrt', [g.op('Add', [var, g.const(np.asarray(eps, dt))])])])
    y = g.op('Mul', [y, scale])
    return g.op('Add', [y, g.name(bias)]) if bias is not None else y


@_rule(F_RULES, 'layer_norm')
def _f_layer_norm(g, a, out):
    ns = a[1]
    ns = [ns] if isinstance(ns, int) else list(ns)
    return emit_layer_norm(g, a[0], ns, a.get('weight'), a.get('bias'), a.get('eps', 1e-5))


@_rule(F_RULES, 'embedding')
def _f_embedding(g, a, out):
    if a.get('max_norm') is not None:
        raise OnnxExportError('ember.onnx.export: embedding with max_norm (renormalizes in place) has no ONNX rule')
    return g.op('Gather', [g.name(a[1]), _in(g, a[0], np.int64)], axis=0)


@_rule(F_RULES, 'pad')
def _f_pad(g, a, out):
    x, pad, mode = a[0], list(a[1]), a.get('mode', 'constant')
    n = x.ndim
    begins, ends = [0] * n, [0] * n
    for i in range(len(pad) // 2):
        begins[n - 1 - i], ends[n - 1 - i] = pad[2 * i], pad[2 * i + 1]
    onnx_mode = {'constant': 'constant', 'reflect': 'reflect', 'replicate': 'edge', 'circular': 'wrap'}.get(mode)
    if onnx_mode is None:
        raise OnnxExportError(f"ember.onnx.export: no ONNX export rule for pad mode '{mode}'")
    ins = [g.name(x), g.ints(begins + ends)]
    if onnx_mode == 'constant':
        ins.append(g.const(np.asarray(a.get('value') or 0, _dt(x))))
    return g.op('Pad', ins, mode=onnx_mode)


@_rule(F_RULES, 'scaled_dot_product_attention')
def _f_sdpa(g, a, out):
    q, k, v = a[0], a[1], a[2]
    mask, is_causal, scale = a.get('attn_mask'), a.get('is_causal', False), a.get('scale')
    if a.get('dropout_p', 0.0):
        raise OnnxExportError('ember.onnx.export: scaled_dot_product_attention with dropout_p > 0 cannot be exported')
    d = q.shape[-1]
    dt = _dt(q)
    perm = list(range(k.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    s = g.op('MatMul', [g.name(q), g.op('Transpose', [g.name(k)], perm=perm)])
    s = g.op('Mul', [s, g.const(np.asarray(scale if scale is not None else 1 / math.sqrt(d), dt))])
    s = _add_masks(g, s, dt, mask, None, is_causal, q.shape[-2], k.shape[-2], None)
    p = g.op('Softmax', [s], axis=-1)
    return g.op('MatMul', [p, g.name(v)])


def _additive(g, mask, dt):
    """A bool (True = masked out) or additive float mask as an additive float ONNX value."""
    if mask is None:
        return None
    if not g.is_dynamic(mask):
        m = mask.detach().cpu().numpy()
        if m.dtype == bool:
            m = np.where(m, -np.inf, 0.0)
        return g.const(m.astype(dt))
    if mask._data.dtype == bool:
        return g.op('Where', [g.name(mask), g.const(np.asarray(-np.inf, dt)), g.const(np.asarray(0.0, dt))])
    return _in(g, mask, dt)


def _add_masks(g, scores, dt, attn_mask, key_padding_mask, is_causal, L, S, heads):
    m = _additive(g, attn_mask, dt)
    if m is not None:
        if attn_mask.ndim == 3 and heads is not None:
            m = g.op('Reshape', [m, g.ints([-1, heads, L, S])])
        scores = g.op('Add', [scores, m])
    elif is_causal:
        causal = np.triu(np.full((L, S), -np.inf, dt), 1)
        scores = g.op('Add', [scores, g.const(causal)])
    kp = _additive(g, key_padding_mask, dt)
    if kp is not None:
        scores = g.op('Add', [scores, g.op('Unsqueeze', [kp, g.ints([1, 2])])])
    return scores


# ---- modules ---------------------------------------------------------------------------------------------------------
def module_rule(m):
    """The export rule of a library module whose forward is its class's own (a subclass that overrides forward is
    traced through its forward instead)."""
    for cls in type(m).__mro__:
        rule = MODULE_RULES.get(cls.__name__)
        if rule is not None and cls.__module__.startswith('ember.nn') and type(m).forward is cls.forward:
            return rule
    return None


def _m(*names):
    return _rule(MODULE_RULES, *names)


@_m('Linear')
def _m_linear(g, m, a, out):
    return emit_linear(g, a[1], m.weight, m.bias)


def _m_conv(nd):
    def rule(g, m, a, out):
        if m.padding_mode != 'zeros':
            x = a[1]
            p = _tuple(m.padding, nd)
            begins = [0, 0] + p
            mode = {'reflect': 'reflect', 'replicate': 'edge', 'circular': 'wrap'}[m.padding_mode]
            xn = g.op('Pad', [g.name(x), g.ints(begins + begins)], mode=mode)
            return g.op('Conv', [xn, g.name(m.weight)] + ([g.name(m.bias)] if m.bias is not None else []),
                        kernel_shape=list(m.weight.shape[2:]), strides=_tuple(m.stride, nd), pads=[0] * (2 * nd),
                        dilations=_tuple(m.dilation, nd), group=int(m.groups))
        return emit_conv(g, a[1], m.weight, m.bias, nd, m.stride, m.padding, m.dilation, m.groups)
    return rule


for _nd in (1, 2, 3):
    MODULE_RULES[f'Conv{_nd}d'] = _m_conv(_nd)


def _m_pool(kind, nd):
    def rule(g, m, a, out):
        if getattr(m, 'return_indices', False):
            raise OnnxExportError(f'ember.onnx.export: MaxPool{nd}d(return_indices=True) has no ONNX rule')
        if getattr(m, 'divisor_override', None):
            raise OnnxExportError(f'ember.onnx.export: AvgPool{nd}d(divisor_override=...) has no ONNX rule')
        return emit_pool(g, kind, g.name(a[1]), nd, m.kernel_size, m.stride, m.padding, getattr(m, 'dilation', 1),
                         m.ceil_mode, getattr(m, 'count_include_pad', True))
    return rule


for _nd in (1, 2, 3):
    MODULE_RULES[f'MaxPool{_nd}d'] = _m_pool('max', _nd)
    MODULE_RULES[f'AvgPool{_nd}d'] = _m_pool('avg', _nd)
    MODULE_RULES[f'AdaptiveAvgPool{_nd}d'] = (lambda nd: lambda g, m, a, out: emit_adaptive(
        g, 'avg', a[1], nd, m.output_size))(_nd)
    MODULE_RULES[f'AdaptiveMaxPool{_nd}d'] = (lambda nd: lambda g, m, a, out: emit_adaptive(
        g, 'max', a[1], nd, m.output_size))(_nd)


@_m('BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d')
def _m_batch_norm(g, m, a, out):
    if m.training or m.running_mean is None:
        raise OnnxExportError(f'ember.onnx.export: {type(m).__name__} in training mode (or without running stats) '
                              f'cannot be exported; call model.eval()')
    return emit_batch_norm(g, a[1], m.running_mean, m.running_var, m.weight, m.bias, m.eps)


@_m('LayerNorm')
def _m_layer_norm(g, m, a, out):
    return emit_layer_norm(g, a[1], list(m.normalized_shape), m.weight, m.bias, m.eps)


@_m('Dropout', 'Dropout1d', 'Dropout2d', 'Dropout3d', 'AlphaDropout', 'FeatureAlphaDropout')
def _m_dropout(g, m, a, out):
    if m.training and m.p > 0:
        raise OnnxExportError(f'ember.onnx.export: {type(m).__name__} in training mode cannot be exported; call '
                              f'model.eval()')
    return g.op('Identity', [g.name(a[1])])


@_m('Identity')
def _m_identity(g, m, a, out):
    return g.op('Identity', [g.name(a[1])])


@_m('Flatten')
def _m_flatten(g, m, a, out):
    class A:
        def __getitem__(self, i):
            return (a[1], m.start_dim, m.end_dim)[i]
    return _flatten(g, A(), out)


@_m('Unflatten')
def _m_unflatten(g, m, a, out):
    x = a[1]
    d = _norm(m.dim, x.ndim)
    return g.op('Reshape', [g.name(x), g.ints([0] * d + list(out.shape[d:]))])


def _m_act(kind, **fixed):
    def rule(g, m, a, out):
        params = {k: getattr(m, k) for k in ('negative_slope', 'alpha', 'approximate', 'min_val', 'max_val', 'beta',
                                              'threshold') if hasattr(m, k)}
        params.update(fixed)
        return emit_activation(g, kind, _in(g, a[1], _dt(out)), _dt(out), **params)
    return rule


for _cls, _kind in (('ReLU', 'relu'), ('ReLU6', 'relu6'), ('LeakyReLU', 'leaky_relu'), ('ELU', 'elu'),
                    ('SELU', 'selu'), ('CELU', 'celu'), ('GELU', 'gelu'), ('SiLU', 'silu'), ('Mish', 'mish'),
                    ('Sigmoid', 'sigmoid'), ('Tanh', 'tanh'), ('Softplus', 'softplus'), ('Hardtanh', 'hardtanh'),
                    ('Hardsigmoid', 'hardsigmoid'), ('Hardswish', 'hardswish'), ('Softsign', 'softsign'),
                    ('LogSigmoid', 'logsigmoid')):
    MODULE_RULES[_cls] = _m_act(_kind)


@_m('Softmax', 'LogSoftmax')
def _m_softmax(g, m, a, out):
    x = a[1]
    d = m.dim if m.dim is not None else (0 if x.ndim in (0, 1, 3) else 1)
    op = 'LogSoftmax' if 'LogSoftmax' in {c.__name__ for c in type(m).__mro__} else 'Softmax'
    return g.op(op, [g.name(x)], axis=_norm(d, x.ndim))


@_m('Embedding')
def _m_embedding(g, m, a, out):
    if m.max_norm is not None:
        raise OnnxExportError('ember.onnx.export: Embedding(max_norm=...) has no ONNX rule')
    return g.op('Gather', [g.name(m.weight), _in(g, a[1], np.int64)], axis=0)


# ---- recurrent layers ------------------------------------------------------------------------------------------------
_GATES = {'LSTM': (4, [0, 3, 1, 2]), 'GRU': (3, [1, 0, 2]), 'RNN': (1, [0])}  # PyTorch gate order -> ONNX's


def _gate_reorder(w, n, order):
    h = w.shape[0] // n
    return np.concatenate([w[i * h:(i + 1) * h] for i in order], axis=0)


@_m('LSTM', 'GRU', 'RNN')
def _m_rnn(g, m, a, out):
    kind = type(m).__name__ if type(m).__name__ in _GATES else m.mode.split('_')[0]
    if getattr(m, 'proj_size', 0):
        raise OnnxExportError('ember.onnx.export: LSTM with proj_size has no ONNX rule')
    x, hx = a[1], a[2]
    if type(x).__name__ == 'PackedSequence':
        raise OnnxExportError('ember.onnx.export: packed sequences cannot be exported; pass a padded tensor')
    n, order = _GATES[kind]
    H, dirs, L = m.hidden_size, 2 if m.bidirectional else 1, m.num_layers
    dt = _dt(x)
    unbatched = x.ndim == 2
    xn = g.name(x)
    if unbatched:
        xn = g.op('Unsqueeze', [xn, g.ints([1])])
    elif m.batch_first:
        xn = g.op('Transpose', [xn], perm=[1, 0, 2])
    if kind == 'LSTM':
        h0, c0 = (hx if hx is not None else (None, None))
    else:
        h0, c0 = hx, None

    def state(t):
        if t is None:
            return None
        s = g.name(t)
        return g.op('Unsqueeze', [s, g.ints([1])]) if unbatched else s
    h0n, c0n = state(h0), state(c0)
    hs, cs = [], []
    for layer in range(L):
        Ws, Rs, Bs = [], [], []
        for d in range(dirs):
            sfx = f'_l{layer}' + ('_reverse' if d else '')
            w_ih = getattr(m, 'weight_ih' + sfx).detach().cpu().numpy()
            w_hh = getattr(m, 'weight_hh' + sfx).detach().cpu().numpy()
            Ws.append(_gate_reorder(w_ih, n, order))
            Rs.append(_gate_reorder(w_hh, n, order))
            if m.bias:
                b_ih = getattr(m, 'bias_ih' + sfx).detach().cpu().numpy()
                b_hh = getattr(m, 'bias_hh' + sfx).detach().cpu().numpy()
                Bs.append(np.concatenate([_gate_reorder(b_ih, n, order), _gate_reorder(b_hh, n, order)]))
            else:
                Bs.append(np.zeros(2 * n * H, dt))
        ins = [xn, g.const(np.stack(Ws).astype(dt)), g.const(np.stack(Rs).astype(dt)),
               g.const(np.stack(Bs).astype(dt)), '']
        sl = slice(layer * dirs, (layer + 1) * dirs)
        ins.append(g.op('Slice', [h0n, g.ints([sl.start]), g.ints([sl.stop]), g.ints([0])]) if h0n else '')
        if kind == 'LSTM':
            ins.append(g.op('Slice', [c0n, g.ints([sl.start]), g.ints([sl.stop]), g.ints([0])]) if c0n else '')
        while ins and ins[-1] == '':
            ins.pop()
        attrs = {'hidden_size': H, 'direction': 'bidirectional' if dirs == 2 else 'forward'}
        if kind == 'GRU':
            attrs['linear_before_reset'] = 1
        if kind == 'RNN':
            attrs['activations'] = ['Relu' if m.nonlinearity == 'relu' else 'Tanh'] * dirs
        res = g.op(kind, ins, n_out=3 if kind == 'LSTM' else 2, **attrs)
        y, hn = res[0], res[1]
        hs.append(hn)
        if kind == 'LSTM':
            cs.append(res[2])
        # Y: (seq, dirs, batch, H) -> (seq, batch, dirs * H)
        xn = g.op('Reshape', [g.op('Transpose', [y], perm=[0, 2, 1, 3]), g.ints([0, 0, -1])])
    y = xn
    if unbatched:
        y = g.op('Squeeze', [y, g.ints([1])])
    elif m.batch_first:
        y = g.op('Transpose', [y], perm=[1, 0, 2])

    def stack(parts):
        s = g.op('Concat', parts, axis=0) if len(parts) > 1 else g.op('Identity', [parts[0]])
        return g.op('Squeeze', [s, g.ints([1])]) if unbatched else s
    if kind == 'LSTM':
        return [y, stack(hs), stack(cs)]
    return [y, stack(hs)]


# ---- attention and transformer layers --------------------------------------------------------------------------------
def emit_mha(g, m, query, key, value, key_padding_mask=None, attn_mask=None, need_weights=False,
             average_attn_weights=True, is_causal=False):
    """MultiheadAttention as MatMul/Softmax ops; returns (output name, weights name or None)."""
    key = query if key is _Same else key
    value = query if value is _Same else value
    if m.bias_k is not None or m.add_zero_attn:
        raise OnnxExportError('ember.onnx.export: MultiheadAttention with add_bias_kv or add_zero_attn has no ONNX '
                              'rule')
    E, H = m.embed_dim, m.num_heads
    D = E // H
    dt = _dt(query)
    unbatched = query.ndim == 2

    def prep(t):
        n = g.name(t)
        if unbatched:
            return g.op('Unsqueeze', [n, g.ints([0])])
        return n if m.batch_first else g.op('Transpose', [n], perm=[1, 0, 2])
    same = key is query and value is query
    qn = prep(query)
    kn = qn if same else prep(key)
    vn = qn if same else (kn if value is key else prep(value))
    if m._qkv_same_embed_dim:
        W = m.in_proj_weight.detach().cpu().numpy()
        Wq, Wk, Wv = W[:E], W[E:2 * E], W[2 * E:]
    else:
        Wq, Wk, Wv = (getattr(m, n).detach().cpu().numpy() for n in ('q_proj_weight', 'k_proj_weight',
                                                                       'v_proj_weight'))
    b = m.in_proj_bias.detach().cpu().numpy() if m.in_proj_bias is not None else None

    def proj(xn, w, i):
        y = g.op('MatMul', [xn, g.const(np.ascontiguousarray(w.T).astype(dt))])
        if b is not None:
            y = g.op('Add', [y, g.const(b[i * E:(i + 1) * E].astype(dt))])
        return y
    L = query.shape[0 if unbatched else (1 if m.batch_first else 0)]
    S = key.shape[0 if unbatched else (1 if m.batch_first else 0)]
    q = g.op('Transpose', [g.op('Reshape', [proj(qn, Wq, 0), g.ints([0, 0, H, D])])], perm=[0, 2, 1, 3])
    k = g.op('Transpose', [g.op('Reshape', [proj(kn, Wk, 1), g.ints([0, 0, H, D])])], perm=[0, 2, 3, 1])
    v = g.op('Transpose', [g.op('Reshape', [proj(vn, Wv, 2), g.ints([0, 0, H, D])])], perm=[0, 2, 1, 3])
    s = g.op('Mul', [g.op('MatMul', [q, k]), g.const(np.asarray(1 / math.sqrt(D), dt))])
    if unbatched and key_padding_mask is not None:
        raise OnnxExportError('ember.onnx.export: unbatched MultiheadAttention with key_padding_mask has no ONNX '
                              'rule')
    s = _add_masks(g, s, dt, attn_mask, key_padding_mask, is_causal and attn_mask is None, L, S, H)
    p = g.op('Softmax', [s], axis=-1)
    ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [p, v])], perm=[0, 2, 1, 3]), g.ints([0, 0, E])])
    o = emit_linear_names(g, ctx, m.out_proj.weight, m.out_proj.bias, dt)
    if unbatched:
        o = g.op('Squeeze', [o, g.ints([0])])
    elif not m.batch_first:
        o = g.op('Transpose', [o], perm=[1, 0, 2])
    w = None
    if need_weights:
        w = _reduce(g, 'ReduceMean', p, [1], False) if average_attn_weights else p
        if unbatched:
            w = g.op('Squeeze', [w, g.ints([0])])
    return o, w


def emit_linear_names(g, xn, weight, bias, dt):
    y = g.op('MatMul', [xn, g.const(np.ascontiguousarray(weight.detach().cpu().numpy().T).astype(dt))])
    if bias is not None:
        y = g.op('Add', [y, g.name(bias)])
    return y


@_m('MultiheadAttention')
def _m_mha(g, m, a, out):
    o, w = emit_mha(g, m, a[1], a[2], a[3], a.get('key_padding_mask'), a.get('attn_mask'), a.get('need_weights'),
                    a.get('average_attn_weights', True), a.get('is_causal', False))
    return [o, w] if w is not None else [o]


def _activation_kind(act):
    name = type(act).__name__ if not callable(act) or hasattr(act, 'forward') else getattr(act, '__name__', '')
    name = name.lower()
    if name in ('relu', 'gelu'):
        return name, getattr(act, 'approximate', 'none')
    raise OnnxExportError(f'ember.onnx.export: TransformerEncoderLayer activation {act!r} has no ONNX rule '
                          f'(relu and gelu have)')


def emit_encoder_layer(g, m, x, like, mask, kpm, is_causal):
    """One TransformerEncoderLayer on ONNX value ``x`` (shaped like tensor ``like``); masks as given by the caller."""
    dt = _dt(like)
    kind, approx = _activation_kind(m.activation)

    def ln(xn, norm):
        return emit_layer_norm(g, _Alias(g, xn, like), list(norm.normalized_shape), norm.weight, norm.bias, norm.eps)

    def sa(xn):
        o, _ = emit_mha(g, m.self_attn, _Alias(g, xn, like), _Same, _Same, kpm, mask, False, True, is_causal)
        return o

    def ff(xn):
        h = emit_linear_names(g, xn, m.linear1.weight, m.linear1.bias, dt)
        h = emit_activation(g, kind, h, dt, approximate=approx)
        return emit_linear_names(g, h, m.linear2.weight, m.linear2.bias, dt)
    if m.norm_first:
        x = g.op('Add', [x, sa(ln(x, m.norm1))])
        return g.op('Add', [x, ff(ln(x, m.norm2))])
    x = ln(g.op('Add', [x, sa(x)]), m.norm1)
    return ln(g.op('Add', [x, ff(x)]), m.norm2)


@_m('TransformerEncoderLayer')
def _m_encoder_layer(g, m, a, out):
    src = a[1]
    return emit_encoder_layer(g, m, g.name(src), src, a.get('src_mask'), a.get('src_key_padding_mask'),
                              a.get('is_causal', False))


@_m('TransformerEncoder')
def _m_encoder(g, m, a, out):
    """The layers in turn, with the masks as passed (dynamic ones stay graph inputs). ember's eager inference path
    that zeroes padded positions (PyTorch's nested-tensor fast path) is data-dependent and not exported."""
    src = a[1]
    mask, kpm = a.get('mask'), a.get('src_key_padding_mask')
    is_causal = bool(a.get('is_causal')) and mask is None
    x = g.name(src)
    for layer in m.layers:
        if module_rule(layer) is not _m_encoder_layer:
            raise OnnxExportError(f'ember.onnx.export: TransformerEncoder with {type(layer).__name__} layers has no '
                                  f'ONNX rule')
        x = emit_encoder_layer(g, layer, x, src, mask, kpm, is_causal)
    if m.norm is not None:
        if module_rule(m.norm) is not _m_layer_norm:
            raise OnnxExportError(f'ember.onnx.export: TransformerEncoder norm {type(m.norm).__name__} has no ONNX '
                                  f'rule')
        x = emit_layer_norm(g, _Alias(g, x, src), list(m.norm.normalized_shape), m.norm.weight, m.norm.bias,
                            m.norm.eps)
    return x


def _like(value):
    def rule(g, a, out):
        v = value if value is not None else a.get('fill_value', a[1])
        shape = g.op('Shape', [g.name(a[0])])
        from onnx import numpy_helper
        return g.op('ConstantOfShape', [shape], value=numpy_helper.from_array(np.asarray([v], _dt(out))))
    return rule


OP_RULES['zeros_like'], OP_RULES['empty_like'] = _like(0), _like(0)
OP_RULES['ones_like'], OP_RULES['full_like'] = _like(1), _like(None)


_Same = object()


class _Alias:
    """A traced tensor's stand-in under a different ONNX name (the emitters call g.name on it)."""

    def __init__(self, g, name, like):
        self.shape, self.ndim, self._data = like.shape, like.ndim, like._data
        g.names[id(self)] = name
        g.dynamic.add(id(self))
        g.keep.append(self)
