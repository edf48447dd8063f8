"""ember.nn layers: Transformer, TransformerEncoder(Layer), TransformerDecoder(Layer)."""
import copy
import math
import warnings

from ..._creation import full
from ..._tensor import Tensor
from .. import init
from .._functional.attention import _canonical_mask
from .activation import ReLU, GELU
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ['Transformer', 'TransformerEncoder', 'TransformerDecoder', 'TransformerEncoderLayer',
           'TransformerDecoderLayer']


def _F():
    from .. import functional as F
    return F


def _get_activation_fn(activation):
    if activation == 'relu':
        return _F().relu
    if activation == 'gelu':
        return _F().gelu
    raise RuntimeError(f'activation should be relu/gelu, not {activation}')


def _get_clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _get_seq_len(src, batch_first):
    if src.ndim == 2:
        return src.shape[0]
    return src.shape[1 if batch_first else 0]


def _stack_seq_len(layers, x):
    """The sequence length of ``x`` as a stack of ``layers`` reads it (batch_first taken from its first layer)."""
    first = layers[0] if len(layers) else None
    batch_first = first is not None and getattr(getattr(first, 'self_attn', None), 'batch_first', False)
    return _get_seq_len(x, batch_first)


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    """A float (sz, sz) mask: -inf above the diagonal (future positions), 0 elsewhere."""
    return full((sz, sz), -math.inf, dtype=dtype, device=device).triu(1)


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """is_causal when given; else whether ``mask`` is exactly the square causal mask."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        sz = size if size is not None else mask.shape[-2]
        if tuple(mask.shape[-2:]) == (sz, sz) and mask.ndim == 2:
            causal = _generate_square_subsequent_mask(sz, device=mask.device, dtype=mask.dtype)
            make_causal = bool((mask == causal).all())
        else:
            make_causal = False
    return make_causal


def _none_or_dtype(t):
    if t is None:
        return None
    if isinstance(t, Tensor):
        return t.dtype
    raise RuntimeError('input to _none_or_dtype() must be None or ember.Tensor')


def _check_features(layer, x, what, d_model):
    if not isinstance(x, Tensor):
        raise TypeError(f'{type(layer).__name__}: expected {what} to be a Tensor, got {type(x).__name__}')
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise RuntimeError(f'{type(layer).__name__}: expected {what} of shape (S, N, {d_model}), (N, S, {d_model}) '
                           f'with batch_first, or unbatched (S, {d_model}) (d_model={d_model}), got '
                           f'{tuple(x.shape)}')


class _TransformerLayer(Module):
    """What encoder and decoder layers share: self-attention and feed-forward blocks, and a LayerNorm and a dropout
    for each residual block."""

    __constants__ = ['norm_first']
    _n_blocks = 2  # residual blocks: self-attention, (attention over memory,) feed-forward

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu', layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {'device': device, 'dtype': dtype}
        # submodules are registered in PyTorch's order, which fixes the order of parameters() and state_dict()
        for name in ('self_attn', 'multihead_attn')[:self._n_blocks - 1]:
            setattr(self, name, MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                   **kw))
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        for k in range(1, self._n_blocks + 1):
            setattr(self, f'norm{k}', LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for k in range(1, self._n_blocks + 1):
            setattr(self, f'dropout{k}', Dropout(dropout))
        if isinstance(activation, str):
            activation = _get_activation_fn(activation)
        self._set_activation(activation)

    def _set_activation(self, activation):
        self.activation = activation

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return getattr(self, f'dropout{self._n_blocks}')(x)


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feed-forward block, each with dropout, a residual connection and LayerNorm (after the
    residual by default; before each block with norm_first)."""

    def _set_activation(self, activation):
        # which fused activation PyTorch's fast path would use (TransformerEncoder checks it)
        F = _F()
        if activation is F.relu or isinstance(activation, ReLU):
            self.activation_relu_or_gelu = 1
        elif activation is F.gelu or isinstance(activation, GELU):
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0
        super()._set_activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        _check_features(self, src, 'src', self.linear1.in_features)
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, 'src_key_padding_mask',
                                               _none_or_dtype(src_mask), 'src_mask', src.dtype)
        src_mask = _canonical_mask(src_mask, 'src_mask', None, '', src.dtype, check_other=False)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, attention over the encoder's memory, then a feed-forward block (each with dropout, residual
    and LayerNorm)."""

    _n_blocks = 3

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        d = self.linear1.in_features
        _check_features(self, tgt, 'tgt', d)
        _check_features(self, memory, 'memory', d)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer applied in turn, then an optional norm."""

    __constants__ = ['norm']

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f'TransformerEncoder: encoder_layer must be a Module, got {type(encoder_layer).__name__}')
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check
        why_not = self._why_not_sparsity_fast_path(encoder_layer)
        if enable_nested_tensor and why_not:
            warnings.warn(f'enable_nested_tensor is True, but self.use_nested_tensor is False because {why_not}')
            self.use_nested_tensor = False

    @staticmethod
    def _why_not_sparsity_fast_path(layer):
        """Why PyTorch would not take its padded-positions fast path with this layer ('' when it would; then
        padded outputs in inference are 0)."""
        name = 'encoder_layer'
        if not isinstance(layer, TransformerEncoderLayer):
            return f'{name} was not TransformerEncoderLayer'
        attn = layer.self_attn
        if layer.norm_first:
            return f'{name}.norm_first was True'
        if not attn.batch_first:
            return f'{name}.self_attn.batch_first was not True(use batch_first for better inference performance)'
        if not attn._qkv_same_embed_dim:
            return f'{name}.self_attn._qkv_same_embed_dim was not True'
        if attn.in_proj_bias is None:
            return f'{name}.self_attn was passed bias=False'
        if not layer.activation_relu_or_gelu:
            return f'{name}.activation_relu_or_gelu was not True'
        if layer.norm1.eps != layer.norm2.eps:
            return f'{name}.norm1.eps was not equal to {name}.norm2.eps'
        if attn.num_heads % 2 == 1:
            return 'num_head is odd'
        return ''

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, 'src_key_padding_mask', _none_or_dtype(mask),
                                               'mask', src.dtype)
        mask = _canonical_mask(mask, 'mask', None, '', src.dtype, check_other=False)
        seq_len = _stack_seq_len(self.layers, src)
        is_causal = _detect_is_causal_mask(mask, is_causal, seq_len)
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        if self._padded_zero(src, mask, src_key_padding_mask):
            # PyTorch's inference fast path runs on nested tensors and pads the result back with zeros
            keep = (src_key_padding_mask == 0).unsqueeze(-1).to(output.dtype)
            output = output * keep
        if self.norm is not None:
            output = self.norm(output)
        return output

    def _padded_zero(self, src, mask, kpm):
        from ...autograd.grad_mode import _State
        if not (self.use_nested_tensor and kpm is not None and src.ndim == 3 and not self.training):
            return False
        if self.layers and self.layers[0].training:
            return False
        if mask is not None and self.mask_check:
            return False
        if tuple(kpm.shape) != tuple(src.shape[:2]):
            return False
        if _State.grad_enabled and (src.requires_grad or any(p.requires_grad for p in self.parameters())):
            return False
        keep = kpm._data == 0
        # only masks whose kept positions come first in every row (left aligned) take that path
        return bool((keep[:, 1:] <= keep[:, :-1]).all())


class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer applied in turn over (tgt, memory), then an optional norm."""

    __constants__ = ['norm']

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f'TransformerDecoder: decoder_layer must be a Module, got {type(decoder_layer).__name__}')
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        seq_len = _stack_seq_len(self.layers, tgt)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq_len)
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """The encoder-decoder model of "Attention Is All You Need" (no embeddings or positional encodings)."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation='relu', custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = {'device': device, 'dtype': dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        is_batched = src.ndim == 3
        if not self.batch_first and is_batched and src.shape[1] != tgt.shape[1]:
            raise RuntimeError(f'the batch number of src and tgt must be equal (Transformer got src '
                               f'{tuple(src.shape)} and tgt {tuple(tgt.shape)}, batch dim 1)')
        if self.batch_first and is_batched and src.shape[0] != tgt.shape[0]:
            raise RuntimeError(f'the batch number of src and tgt must be equal (Transformer got src '
                               f'{tuple(src.shape)} and tgt {tuple(tgt.shape)}, batch dim 0 with batch_first)')
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f'the feature number of src and tgt must be equal to d_model (Transformer has '
                               f'd_model={self.d_model}, got src {tuple(src.shape)} and tgt {tuple(tgt.shape)})')
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """A float (sz, sz) mask: -inf above the diagonal (future positions), 0 elsewhere."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
