"""ember.nn.functional: linear and bilinear maps, and the cross entropy of a linear map."""
from ...ops import nn_ops as _nn
from ..._tensor import Tensor

__all__ = ['linear', 'bilinear', 'linear_cross_entropy']


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias over input's last dimension (one fused node; backward through BLAS)."""
    return _nn.linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = input1 @ weight[o] @ input2 + bias[o], for weight of shape (out, in1, in2)."""
    if not all(isinstance(t, Tensor) for t in (input1, input2, weight)):
        raise TypeError('bilinear(): input1, input2 and weight must be Tensors')
    if weight.ndim != 3:
        raise RuntimeError(f'bilinear(): weight must be 3-D (out_features, in1_features, in2_features), got shape '
                           f'{tuple(weight.shape)}')
    n_out, n1, n2 = weight.shape
    if input1.shape[-1:] != (n1,) or input2.shape[-1:] != (n2,):
        raise RuntimeError(f'bilinear(): input1 of shape {tuple(input1.shape)} and input2 of shape '
                           f'{tuple(input2.shape)} must end in {n1} and {n2} (weight shape {tuple(weight.shape)})')
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f'bilinear(): input1 and input2 must have the same leading (batch) dims, got '
                           f'{tuple(input1.shape)} and {tuple(input2.shape)}')
    # (input1 @ W[o]) for every o at once: (..., out * in2), then contracted with input2
    t = _nn.linear(input1, weight.transpose(1, 2).reshape(n_out * n2, n1))
    t = t.reshape(tuple(input1.shape[:-1]) + (n_out, n2))
    out = (t * input2.unsqueeze(-2)).sum(-1)
    if bias is not None:
        out = out + bias
    return out


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None, reduction='mean',
                         ignore_index=None, label_smoothing=0.0, options=None):
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...); a weight of shape (C, d1.., dK, in)
    gives (N, C, d1.., dK) logits (K-dimensional loss). ``options`` (PyTorch's chunking of the batch, a memory
    saving) changes nothing here: the loss and its gradients are those of the reference formula."""
    from .loss import cross_entropy
    for name, t in (('input', input), ('linear_weight', linear_weight), ('target', target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"linear_cross_entropy(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if input.shape[-1:] != linear_weight.shape[-1:]:
        raise RuntimeError(f'expected equal input and linear_weight last dimensions (in_features), got '
                           f'{input.shape[-1] if input.ndim else None} and {linear_weight.shape[-1]}, respectively')
    if ignore_index is None:
        ignore_index = -100
    if linear_weight.ndim > 2:
        if input.ndim != 2:
            raise RuntimeError(f'K-dimensional loss defined by linear_weight shape {tuple(linear_weight.shape)} '
                               f'requires batched input, (N, {input.shape[-1]}), got unbatched input with shape '
                               f'{tuple(input.shape)}')
        out_shape = tuple(linear_weight.shape[:-1])
        w2 = linear_weight.reshape(-1, linear_weight.shape[-1])
        b2 = None if linear_bias is None else linear_bias.reshape(-1)
        logits = _nn.linear(input, w2, b2).reshape((input.shape[0],) + out_shape)
    else:
        logits = _nn.linear(input, linear_weight, linear_bias)
    return cross_entropy(logits, target, weight, ignore_index=ignore_index, reduction=reduction,
                         label_smoothing=label_smoothing)
