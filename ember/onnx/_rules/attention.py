"""Export rules for multi-head attention and the transformer encoder layers."""
import math
import numpy as np

from .._export import OnnxExportError
from .common import _dt, _reduce
from .reductions import emit_activation
from .layers import _add_masks, emit_layer_norm
from .modules import _m, _m_layer_norm, module_rule


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


_Same = object()


class _Alias:
    """A traced tensor's stand-in under a different ONNX name (the emitters call g.name on it)."""

    def __init__(self, g, name, like):
        self.shape, self.ndim, self._data = like.shape, like.ndim, like._data
        g.names[id(self)] = name
        g.dynamic.add(id(self))
        g.keep.append(self)
