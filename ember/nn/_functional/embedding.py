"""ember.nn.functional: embedding lookups."""
import builtins

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ...ops import nn_ops as _nn
from ...backends import checks_values
from ..._dtype import _LEGACY_NAMES
from ...ops._util import same_device, renamed as _renamed

__all__ = ['embedding', 'embedding_bag']



def _renorm_rows(weight, idx, max_norm, norm_type):
    """Scale (in place, no grad) each looked-up row whose norm exceeds max_norm down to max_norm."""
    xp = weight._device.xp
    rows = xp.unique(idx._data.reshape(-1))
    with no_grad():
        w = weight._data
        sub = w[rows]
        if norm_type == 2:
            norms = xp.sqrt((sub * sub).sum(axis=1))
        else:
            norms = (xp.abs(sub) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        over = norms > max_norm
        if over.any():
            scale = (max_norm / (norms[over] + 1e-7)).astype(w.dtype)
            w[rows[over]] = sub[over] * scale[:, None]
            weight._bump()


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """weight[input]: rows of the (num_embeddings, embedding_dim) weight picked by integer indices.

    The gradient row at ``padding_idx`` stays zero; ``max_norm`` renormalises the picked rows in place first."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError('embedding(): input and weight must be Tensors')
    if input._data.dtype.kind not in 'iu':
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got ember.{_LEGACY_NAMES.get(input.dtype.name, input.dtype.name)} instead "
                           f"(while checking arguments for embedding)")
    if weight.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D, got shape {tuple(weight.shape)}")
    same_device(weight, input, 'embedding')
    V = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= V:
            raise AssertionError('Padding_idx must be within num_embeddings')
        if padding_idx < 0:
            if padding_idx < -V:
                raise AssertionError('Padding_idx must be within num_embeddings')
            padding_idx += V
    d = input._data
    if d.size and checks_values(input._device) and (int(d.min()) < 0 or int(d.max()) >= V):  # cuda: EMBER_CUDA_CHECKS
        bad = int(d.max()) if int(d.max()) >= V else int(d.min())
        raise IndexError(f'index {bad} is out of range for an embedding of {V} rows (num_embeddings={V})')
    if max_norm is not None:
        _renorm_rows(weight, input, max_norm, norm_type)
    return _nn.embedding(input, weight, padding_idx, scale_grad_by_freq)


def _bag_ids(input, offsets, include_last_offset, xp):
    """(bag of each input position (-1: in no bag), number of bags) for 2-D input (one bag per row) or 1-D input
    split at ``offsets``."""
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f'if input is 2D, then offsets has to be None, as input is treated is a mini-batch of '
                             f'fixed length sequences. However, found offsets of type {type(offsets)}')
        B, n = input.shape
        return xp.repeat(xp.arange(B), n), B
    if input.ndim != 1:
        raise ValueError(f'input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}')
    if offsets is None or offsets.ndim != 1:
        raise ValueError(f'offsets has to be a 1D Tensor but got {None if offsets is None else offsets.ndim}')
    off = offsets._data.astype('int64')
    n = input.shape[0]
    if off.size and int(off[0]) != 0:
        raise RuntimeError(f'offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from '
                           f'position 0. However, got {int(off[0])}')
    if off.size and int(off[-1]) > n:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length {n} but got offsets[-1] of "
                           f"{int(off[-1])}")
    B = off.size - 1 if include_last_offset else off.size
    bag = xp.searchsorted(off, xp.arange(n), side='right') - 1
    if include_last_offset:  # the last offset ends the last bag: what follows it is in none
        bag = xp.where(bag >= B, -1, bag)
    return bag, builtins.max(B, 0)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode='mean',
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums/means/maxes of bags of embeddings: 2-D input (one bag per row) or 1-D input split at ``offsets``;
    entries equal to ``padding_idx`` count in no bag, and an empty bag gives zeros."""
    if mode not in ('sum', 'mean', 'max'):
        raise ValueError('mode has to be one of sum, mean or max')
    if per_sample_weights is not None:
        if per_sample_weights.shape != input.shape:
            raise ValueError(f'embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, then it '
                             f'must have the same shape as the input ({input.shape})')
        if mode != 'sum':
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                      f"on GitHub.")
    if input._data.dtype.kind not in 'iu':
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got ember.{_LEGACY_NAMES.get(input.dtype.name, input.dtype.name)} instead "
                           f"(while checking arguments for embedding_bag)")
    xp = weight._device.xp
    bag, B = _bag_ids(input, offsets, include_last_offset, xp)
    idx = input._data.reshape(-1)
    V = weight.shape[0]
    keep = bag >= 0
    if padding_idx is not None:
        keep &= idx != (padding_idx + V if padding_idx < 0 else padding_idx)
    from ..._tensor import _wrap
    rows, bags = _wrap(idx[keep], input._device), _wrap(bag[keep].astype('int64'), input._device)
    e = embedding(rows, weight, None, max_norm, norm_type)  # (M, D): one row per entry that counts
    if per_sample_weights is not None:
        e = e * per_sample_weights.reshape(-1)[_wrap(keep, input._device)].unsqueeze(-1)
    zeros = weight.new_zeros((B, weight.shape[1]))
    if mode == 'max':  # (an empty bag keeps its zeros)
        out = zeros.scatter_reduce(0, bags.unsqueeze(1).expand(e.shape), e, 'amax', include_self=False)
    else:
        out = zeros.index_add(0, bags, e)
        if mode == 'mean':
            count = xp.bincount(bags._data, minlength=B).astype(weight._data.dtype)
            out = out / _wrap(xp.maximum(count, 1)[:, None], weight._device)
    return _renamed(out, 'EmbeddingBagBackward0', weight)
