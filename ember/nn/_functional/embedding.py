"""ember.nn.functional: embedding lookups."""
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ...ops import nn_ops as _nn
from ...backends import checks_values
from ...ops._util import same_device, renamed as _renamed

__all__ = ['embedding', 'embedding_bag']

_NAMES = {'float32': 'FloatTensor', 'float64': 'DoubleTensor', 'float16': 'HalfTensor', 'bool': 'BoolTensor',
          'int8': 'CharTensor', 'uint8': 'ByteTensor', 'int16': 'ShortTensor'}


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
                           f"Long, Int; but got ember.{_NAMES.get(input.dtype.name, input.dtype.name)} instead "
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


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode='mean',
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums/means/maxes of bags of embeddings: 2-D input (one bag per row) or 1-D input split at ``offsets``."""
    from ...ops.shape import stack
    if input.ndim == 2:
        bags = [input[i] for i in range(input.shape[0])]
        psw = [per_sample_weights[i] for i in range(input.shape[0])] if per_sample_weights is not None else None
    else:
        if offsets is None:
            raise ValueError('offsets has to be a 1D Tensor but got None')
        off = [int(o) for o in offsets.tolist()]
        ends = off[1:] + ([] if include_last_offset else [input.shape[0]])
        starts = off[:len(ends)]
        bags = [input[s:e] for s, e in zip(starts, ends)]
        psw = [per_sample_weights[s:e] for s, e in zip(starts, ends)] if per_sample_weights is not None else None
    out = []
    for k, b in enumerate(bags):
        if padding_idx is not None:
            b = b[b != padding_idx]
        if b.numel() == 0:
            out.append(weight.new_zeros(weight.shape[1]))
            continue
        e = embedding(b, weight, None, max_norm, norm_type)
        if psw is not None:
            e = e * psw[k].unsqueeze(-1)
        if mode == 'sum':
            out.append(e.sum(0))
        elif mode == 'mean':
            out.append(e.mean(0))
        elif mode == 'max':
            out.append(e.amax(0))
        else:
            raise ValueError(f'mode has to be one of sum, mean or max, got {mode}')
    return _renamed(stack(out), 'EmbeddingBagBackward0', weight)
