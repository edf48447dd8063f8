"""ember.nn layers: MultiheadAttention."""
from ..._creation import empty
from ..parameter import Parameter
from .. import init
from .._functional.attention import multi_head_attention_forward
from .linear import NonDynamicallyQuantizableLinear  # PyTorch's class for out_proj
from .module import Module

__all__ = ['MultiheadAttention', 'NonDynamicallyQuantizableLinear']


class MultiheadAttention(Module):
    """Attention over num_heads subspaces of embed_dim: softmax(Q K^T / sqrt(head_dim) + mask) V per head, then an
    output projection. Inputs are (L, N, E) (or (N, L, E) with batch_first, or unbatched (L, E))."""

    __constants__ = ['batch_first']

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f'embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and '
                             f'num_heads={num_heads} instead')
        super().__init__()
        kw = {'device': device, 'dtype': dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError(f'embed_dim must be divisible by num_heads (got embed_dim={embed_dim}, '
                                 f'num_heads={num_heads})')
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(empty((embed_dim, embed_dim), **kw))
            self.k_proj_weight = Parameter(empty((embed_dim, self.kdim), **kw))
            self.v_proj_weight = Parameter(empty((embed_dim, self.vdim), **kw))
            self.register_parameter('in_proj_weight', None)
        else:
            self.in_proj_weight = Parameter(empty((3 * embed_dim, embed_dim), **kw))
            self.register_parameter('q_proj_weight', None)
            self.register_parameter('k_proj_weight', None)
            self.register_parameter('v_proj_weight', None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter('in_proj_bias', None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty((1, 1, embed_dim), **kw))
            self.bias_v = Parameter(empty((1, 1, embed_dim), **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        name = type(self).__name__
        if query.ndim not in (2, 3):
            raise AssertionError(f'{name}: query should be unbatched 2D or batched 3D tensor but received '
                                 f'{query.ndim}-D query tensor of shape {tuple(query.shape)}')
        if query.shape[-1] != self.embed_dim:
            raise AssertionError(f'{name}: was expecting embedding dimension of {self.embed_dim}, but got '
                                 f'{query.shape[-1]} (query of shape {tuple(query.shape)})')
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise AssertionError(f'{name}: expected key and value feature sizes ({self.kdim}, {self.vdim}), got '
                                 f'({key.shape[-1]}, {value.shape[-1]})')
        is_batched = query.ndim == 3
        if self.batch_first and is_batched:
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = query.transpose(1, 0), key.transpose(1, 0)
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        common = dict(training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
                      attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal)
        if not self._qkv_same_embed_dim:
            out, weights = multi_head_attention_forward(
                query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
                self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
                use_separate_proj_weight=True, q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
                v_proj_weight=self.v_proj_weight, **common)
        else:
            out, weights = multi_head_attention_forward(
                query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
                self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
                **common)
        if self.batch_first and is_batched:
            out = out.transpose(1, 0)
        return out, weights

    def merge_masks(self, attn_mask, key_padding_mask, query):
        """The combined additive mask (N, num_heads, L, S) and its type ('0' attn only, '1' padding only, '2' both)."""
        from .._functional.attention import _canonical_mask
        mask_type = None
        merged = None
        if key_padding_mask is not None:
            mask_type = 1
            merged = key_padding_mask
        if attn_mask is not None:
            bsz, seq_len = query.shape[0], query.shape[1]
            mask_type = 2
            if attn_mask.ndim == 3:
                attn_mask = attn_mask.reshape(bsz, -1, seq_len, seq_len)
            else:
                attn_mask = attn_mask.reshape(1, 1, seq_len, seq_len).expand(bsz, self.num_heads, -1, -1)
            merged = attn_mask
            if key_padding_mask is not None:
                kpm = key_padding_mask.reshape(bsz, 1, 1, seq_len).expand(-1, self.num_heads, -1, -1)
                merged = _canonical_mask(attn_mask, 'attn_mask', None, '', query.dtype) + _canonical_mask(
                    kpm, 'key_padding_mask', None, '', query.dtype)
        return merged, mask_type

    def extra_repr(self):
        return ''
