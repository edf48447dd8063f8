"""ember.nn.functional: attention ops (scaled_dot_product_attention, multi_head_attention_forward)."""
import math
import warnings

from ..._tensor import _wrap
from ...autograd.grad_mode import _State
from ...ops._util import unbroadcast, record_joint as _record_joint
from ...ops.rnn import _double_backward
from .dropout import _scaled_mask

__all__ = ['scaled_dot_product_attention', 'multi_head_attention_forward']


def _dtn(t):
    return {'float32': 'float', 'float64': 'double', 'float16': 'c10::Half', 'int64': 'long int',
            'int32': 'int', 'bool': 'bool'}.get(t.dtype.name, t.dtype.name)


def _dropout(x, p, training=True):
    """F.dropout when the activation helpers provide it, else the same Bernoulli(1 - p) / (1 - p) mask here."""
    if not training or p == 0:
        return x
    from .. import functional as F
    fn = getattr(F, 'dropout', None)
    if fn is not None:
        return fn(x, p, training)
    if p == 1:
        return x * 0
    from ..._sampling import rand
    keep = rand(tuple(x.shape), dtype=x.dtype, device=x.device) >= p
    return x * keep.to(x.dtype) * (1.0 / (1 - p))


def _safe_softmax_array(xp, s):
    """Softmax over the last axis where a row of only -inf gives zeros (PyTorch's SDPA convention)."""
    m = s.max(axis=-1, keepdims=True)
    dead = xp.isneginf(m)
    m = xp.where(dead, 0, m)
    e = s - m
    xp.exp(e, out=e)
    tot = e.sum(axis=-1, keepdims=True)
    tot = xp.where(tot == 0, 1, tot)
    e /= tot
    return e


def _attention_composite(q, k, v, mask, scale, keep):
    """SDPA with ordinary recorded ops (the double-backward path)."""
    s = q.matmul(k.transpose(-2, -1)) * scale
    if mask is not None:
        s = s + mask
    m = s.detach().amax(-1, keepdim=True)
    xp = s._device.xp
    fix = _wrap(xp.where(xp.isneginf(m._data), 0, m._data), s._device)
    e = (s - fix).exp()
    tot = e.sum(-1, keepdim=True)
    tot = tot + _wrap((tot._data == 0).astype(tot._data.dtype), s._device)
    p = e / tot
    if keep is not None:
        p = p * _wrap(keep, s._device)
    return (p.matmul(v),)


def _sdpa_fused(q, k, v, mask, scale, dropout_p):
    """One recorded op: softmax(q k^T * scale + mask) (dropped out) @ v, its backward in a few array ops.
    ``mask`` is None or an additive float tensor broadcastable to the scores."""
    xp = q._device.xp
    s = xp.matmul(q._data, xp.swapaxes(k._data, -1, -2))
    s *= scale
    if mask is not None:
        s = s + mask._data
    p = _safe_softmax_array(xp, s)
    keep = None
    if dropout_p > 0:
        from ...backends.random import generator_for
        gen = generator_for(q._device, None)
        if q._device.type == 'cpu':  # PyTorch's mask: bernoulli_(1 - p) over the attention weights
            keep = gen.bernoulli(1.0 - dropout_p, p.shape)
        else:  # cuda draws float32 uniforms (as F.dropout): plenty of bits for a keep/drop decision
            keep = gen.random(p.shape, dtype='float32') >= dropout_p
        if dropout_p < 1:
            keep = _scaled_mask(xp, keep, dropout_p, p.dtype)
        else:
            keep = xp.zeros(p.shape, p.dtype)
        pd = p * keep
    else:
        pd = p
    out = xp.matmul(pd, v._data)
    inputs = (q, k, v, mask)
    qs, ks, vs = q._data.shape, k._data.shape, v._data.shape

    def backward(grads):
        (go,) = grads
        if go is None:
            return [None] * 4
        if _State.grad_enabled:
            return _double_backward(lambda q_, k_, v_, m_: _attention_composite(q_, k_, v_, m_, scale, keep),
                                    inputs, grads, 1)
        g = go._data
        dev = q._device
        res = [None] * 4
        if v._rg:
            res[2] = unbroadcast(_wrap(xp.matmul(xp.swapaxes(pd, -1, -2), g), dev), vs)
        if q._rg or k._rg or (mask is not None and mask._rg):
            dp = xp.matmul(g, xp.swapaxes(v._data, -1, -2))
            if keep is not None:
                dp *= keep
            ds = dp
            ds -= (dp * p).sum(axis=-1, keepdims=True)
            ds *= p
            if mask is not None and mask._rg:
                res[3] = unbroadcast(_wrap(ds.copy(), dev), tuple(mask.shape))
            ds *= scale
            if q._rg:
                res[0] = unbroadcast(_wrap(xp.matmul(ds, k._data), dev), qs)
            if k._rg:
                res[1] = unbroadcast(_wrap(xp.matmul(xp.swapaxes(ds, -1, -2), q._data), dev), ks)
        return res

    return _record_joint((out,), q._device, inputs, 'ScaledDotProductAttentionBackward0', backward)[0]


def _float_mask(mask, dtype, name='attn_mask', keep_true=True):
    """An additive float mask: bool masks become 0 / -inf (``keep_true``: True marks positions that attend)."""
    if mask is None:
        return None
    if mask.dtype.name == 'bool':
        xp = mask._device.xp
        allowed = mask._data if keep_true else ~mask._data
        arr = xp.where(allowed, 0.0, -math.inf).astype(dtype.np if hasattr(dtype, 'np') else dtype)
        return _wrap(arr, mask._device)
    if not mask.is_floating_point():
        raise RuntimeError(f'only bool and floating types of {name} are supported')
    return mask if mask.dtype == dtype else mask.to(dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(Q K^T * scale + mask) V over the last two dims; bool masks mark with True the positions that attend.
    Rows with nothing to attend to give zeros."""
    q, k, v = query, key, value
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(f'Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: '
                           f'{q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead.')
    if not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(f'Expected query, key, and value to have the same dtype, but got query.dtype: {_dtn(q)} '
                           f'key.dtype: {_dtn(k)} and value.dtype: {_dtn(v)} instead.')
    if not q.is_floating_point():
        raise RuntimeError(f'scaled_dot_product_attention: expected floating-point query, key and value, got '
                           f'{q.dtype.name}')
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f'scaled_dot_product_attention: query has embedding size {q.shape[-1]} but key has '
                           f'{k.shape[-1]} (query {tuple(q.shape)}, key {tuple(k.shape)})')
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f'scaled_dot_product_attention: key has sequence length {k.shape[-2]} but value has '
                           f'{v.shape[-2]} (key {tuple(k.shape)}, value {tuple(v.shape)})')
    if enable_gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        hq, hk = q.shape[-3], k.shape[-3]
        if hq % hk or v.shape[-3] != hk:
            raise RuntimeError(f'scaled_dot_product_attention with enable_gqa: the number of query heads ({hq}) must '
                               f'be a multiple of the number of key/value heads ({hk}, {v.shape[-3]})')
        k = _repeat_heads(k, hq // hk)
        v = _repeat_heads(v, hq // hk)
    L, S = q.shape[-2], k.shape[-2]
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    mask = None
    if is_causal and attn_mask is not None:
        raise RuntimeError('_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True')
    if attn_mask is not None:
        if attn_mask.dtype.name != 'bool' and attn_mask.dtype != q.dtype and not attn_mask.is_floating_point():
            raise RuntimeError(f'Expected attn_mask dtype to be bool or float or to match query dtype, but got '
                               f'attn_mask.dtype: {_dtn(attn_mask)} and  query.dtype: {_dtn(q)} instead.')
        try:
            q._device.xp.broadcast_shapes(tuple(attn_mask.shape), tuple(q.shape[:-2]) + (L, S))
        except ValueError:
            raise RuntimeError(f'scaled_dot_product_attention: attn_mask of shape {tuple(attn_mask.shape)} does not '
                               f'broadcast to the attention scores of shape {tuple(q.shape[:-2]) + (L, S)}') from None
        mask = _float_mask(attn_mask, q.dtype)
    if is_causal:
        xp = q._device.xp
        causal = _wrap(xp.where(xp.tril(xp.ones((L, S), dtype=bool)), 0.0, -math.inf).astype(q._data.dtype),
                       q._device)
        mask = causal
    return _sdpa_fused(q, k, v, mask, float(scale), float(dropout_p))


def _repeat_heads(t, n):
    shape = tuple(t.shape)
    e = t.unsqueeze(-3).expand(shape[:-2] + (n,) + shape[-2:])
    return e.reshape(shape[:-3] + (shape[-3] * n,) + shape[-2:])


# ---- multi-head attention --------------------------------------------------------------------------------------

def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """A bool mask becomes an additive float mask (-inf where True, i.e. not allowed); float masks pass through."""
    if mask is None:
        return None
    is_bool = mask.dtype.name == 'bool'
    if not is_bool and not mask.is_floating_point():
        raise AssertionError(f'only bool and floating types of {mask_name} are supported')
    if check_other and other_type is not None and other_type != mask.dtype:
        warnings.warn(f'Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for both '
                      f'instead.')
    if is_bool:
        return _float_mask(mask, target_type, mask_name, keep_true=False)
    return mask


def _linear(x, w, b):
    from ...ops.nn_ops import linear
    return linear(x, w, b)


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """True when the inputs are batched (3-D), False when unbatched (2-D); errors otherwise."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError(f'For batched (3-D) `query`, expected `key` and `value` to be 3-D but found '
                                 f'{key.ndim}-D and {value.ndim}-D tensors respectively')
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError(f'For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but '
                                 f'found {key_padding_mask.ndim}-D tensor instead')
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError(f'For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found '
                                 f'{attn_mask.ndim}-D tensor instead')
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError(f'For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found '
                                 f'{key.ndim}-D and {value.ndim}-D tensors respectively')
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError(f'For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but '
                                 f'found {key_padding_mask.ndim}-D tensor instead')
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError(f'For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D '
                                     f'but found {attn_mask.ndim}-D tensor instead')
            if attn_mask.ndim == 3:
                want = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != want:
                    raise AssertionError(f'Expected `attn_mask` shape to be {want} but got {tuple(attn_mask.shape)}')
        return False
    raise AssertionError(f'query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query '
                         f'tensor')


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention on sequence-first inputs (L, N, E) / (S, N, kdim) / (S, N, vdim), or unbatched 2-D.

    Masks: bool ``key_padding_mask`` (N, S) / ``attn_mask`` (L, S) or (N * num_heads, L, S) mark with True the
    positions that may NOT be attended; float masks are added to the scores. Returns (output, weights or None)."""
    from ...ops.shape import cat
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f'was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}')
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f'embed_dim {embed_dim} not divisible by num_heads {num_heads}')
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f'key\'s sequence and batch dims {tuple(key.shape[:2])} do not match value\'s '
                                 f'{tuple(value.shape[:2])}')
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f'key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}')

    key_padding_mask = _canonical_mask(key_padding_mask, 'key_padding_mask',
                                       None if attn_mask is None else attn_mask.dtype, 'attn_mask', query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError('Need attn_mask if specifying the is_causal hint. You may use the Transformer module '
                           'method `generate_square_subsequent_mask` to create this mask.')
    if is_causal and key_padding_mask is None and not need_weights:
        # the mask is only a hint here: sdpa builds the causal mask itself
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, 'attn_mask', None, '', query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False

    # input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError('use_separate_proj_weight is False but in_proj_weight is None')
        if query is key and key is value:
            q, k, v = _linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
        else:
            w_q, w_k, w_v = in_proj_weight.chunk(3)
            b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
            q = _linear(query, w_q, b_q)
            if key is value:
                k, v = _linear(key, cat([w_k, w_v], 0), None if b_k is None else cat([b_k, b_v], 0)).chunk(2, -1)
            else:
                k, v = _linear(key, w_k, b_k), _linear(value, w_v, b_v)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError('use_separate_proj_weight is True but q_proj_weight, k_proj_weight or v_proj_weight '
                                 'is None')
        b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
        q, k, v = _linear(query, q_proj_weight, b_q), _linear(key, k_proj_weight, b_k), _linear(value, v_proj_weight,
                                                                                               b_v)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f'The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be '
                                   f'{(tgt_len, src_len)}.')
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f'The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be '
                                   f'{(bsz * num_heads, tgt_len, src_len)}.')
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError('bias cannot be added to static key/value.')
        k = cat([k, bias_k.expand(1, bsz, embed_dim)], 0)
        v = cat([v, bias_v.expand(1, bsz, embed_dim)], 0)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise AssertionError('bias_k and bias_v must both be given or both be None')

    # (L, N, E) -> (N * H, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    if static_k is None:
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if tuple(static_k.shape) != (bsz * num_heads, static_k.shape[1], head_dim):
            raise AssertionError(f'expecting static_k of shape {(bsz * num_heads, "S", head_dim)}, got '
                                 f'{tuple(static_k.shape)}')
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if tuple(static_v.shape) != (bsz * num_heads, static_v.shape[1], head_dim):
            raise AssertionError(f'expecting static_v of shape {(bsz * num_heads, "S", head_dim)}, got '
                                 f'{tuple(static_v.shape)}')
        v = static_v
    if add_zero_attn:
        zeros = k.new_zeros((bsz * num_heads, 1, head_dim))
        k = cat([k, zeros], 1)
        v = cat([v, zeros.to(v.dtype)], 1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f'expecting key_padding_mask shape of {(bsz, src_len)}, but got '
                                 f'{tuple(key_padding_mask.shape)}')
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len).reshape(
            bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        # explicit weights: the softmax of a row with nothing to attend to is nan, as in PyTorch
        q_scaled = q * math.sqrt(1.0 / head_dim)
        scores = q_scaled.matmul(k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = scores.softmax(-1)
        if dropout_p > 0.0:
            weights = _dropout(weights, dropout_p)
        out = weights.matmul(v)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if not is_batched:
        out = out.squeeze(1)
    return out, None


def _pad_last(mask):
    """A mask with one more (allowed) position at the end of its last dim."""
    if mask is None:
        return None
    from ...ops.shape import cat
    return cat([mask, mask.new_zeros(tuple(mask.shape[:-1]) + (1,))], -1)
