"""Rule tables, the decorator that fills them, and the operand helpers every rule uses."""
import numpy as np

from .._export import OnnxExportError, onnx_type


OP_RULES, METHOD_RULES, F_RULES, MODULE_RULES = {}, {}, {}, {}


def _rule(table, *names):
    def deco(fn):
        for n in names:
            table[n] = fn
        return fn
    return deco


def _is_tensor(v):
    from ..._tensor import Tensor
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
