"""Export rules for reductions, softmax and the activations (shared by ops, functional and modules)."""
import math
import numpy as np

from .._export import OnnxExportError
from .common import F_RULES, OP_RULES, _dt, _in, _is_tensor, _norm, _reduce, _rule
from .elementwise import emit_linear


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
