"""Export rules for library modules (nn.Linear, convs, pools, norms, activations) and recurrent layers."""
import numpy as np

from .._export import OnnxExportError
from .common import MODULE_RULES, _dt, _in, _norm, _rule
from .elementwise import emit_linear
from .shapes import _flatten
from .reductions import emit_activation
from .layers import _tuple, emit_adaptive, emit_batch_norm, emit_conv, emit_layer_norm, emit_pool


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
