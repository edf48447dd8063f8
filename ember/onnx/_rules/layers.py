"""Export rules for functional layers: convolution, pooling, normalization, embedding, pad, attention."""
import math
import numpy as np

from .._export import OnnxExportError
from .common import F_RULES, _dt, _in, _reduce, _rule


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
