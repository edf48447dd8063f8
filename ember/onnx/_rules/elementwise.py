"""Export rules for elementwise ops, casts, matrix products and the *_like constructors."""
import math
import numpy as np

from .._export import OnnxExportError, onnx_type
from .common import METHOD_RULES, OP_RULES, _dt, _in, _is_tensor, _rule


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


def _like(value):
    def rule(g, a, out):
        v = value if value is not None else a.get('fill_value', a[1])
        shape = g.op('Shape', [g.name(a[0])])
        from onnx import numpy_helper
        return g.op('ConstantOfShape', [shape], value=numpy_helper.from_array(np.asarray([v], _dt(out))))
    return rule


OP_RULES['zeros_like'], OP_RULES['empty_like'] = _like(0), _like(0)
OP_RULES['ones_like'], OP_RULES['full_like'] = _like(1), _like(None)
