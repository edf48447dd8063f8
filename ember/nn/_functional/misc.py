"""ember.nn.functional: one_hot, normalize, cosine_similarity, pairwise_distance, pdist."""
from ..._tensor import Tensor, _wrap
from ...ops._util import renamed
from ...ops.distance import pdist

__all__ = ['one_hot', 'normalize', 'cosine_similarity', 'pairwise_distance', 'pdist']


def one_hot(tensor, num_classes=-1):
    """An int64 tensor of shape (*tensor.shape, num_classes) with a 1 at each index (num_classes=-1: max + 1)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot(): argument 'input' must be Tensor, not {type(tensor).__name__}")
    if tensor._data.dtype.kind not in 'iu':
        raise RuntimeError(f'one_hot is only applicable to index tensor of type LongTensor (got dtype '
                           f'{tensor.dtype.name})')
    xp = tensor._device.xp
    d = tensor._data
    if num_classes == -1:
        if d.size == 0:
            raise RuntimeError('Can not infer total number of classes from empty tensor.')
        num_classes = int(d.max()) + 1
    if d.size:
        if int(d.min()) < 0:
            raise RuntimeError('Class values must be non-negative.')
        if int(d.max()) >= num_classes:
            raise RuntimeError(f'Class values must be smaller than num_classes (got a value {int(d.max())} for '
                               f'num_classes={num_classes}).')
    out = (d[..., None] == xp.arange(num_classes)).astype('int64')
    return _wrap(out, tensor._device)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    return input / denom


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between x1 and x2 along dim (inputs broadcast; each norm clamped below at eps)."""
    if x1._data.dtype.kind != 'f' or x2._data.dtype.kind != 'f':
        raise RuntimeError(f'cosine_similarity: expected floating-point inputs, got {x1.dtype.name} and '
                           f'{x2.dtype.name}')
    if x1.shape != x2.shape:
        import numpy as _np
        try:
            shape = _np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
        except ValueError:
            raise RuntimeError(f'cosine_similarity: the shapes {tuple(x1.shape)} and {tuple(x2.shape)} cannot be '
                               f'broadcast together') from None
        x1, x2 = x1.expand(shape), x2.expand(shape)
    n1 = x1.norm(2, dim, keepdim=True).clamp(min=eps)
    n2 = x2.norm(2, dim, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p along the last dim."""
    return renamed((x1 - x2 + eps).norm(p, -1, keepdim), 'NormBackward1')  # PyTorch's node (at::norm)


