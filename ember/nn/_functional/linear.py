"""ember.nn.functional: linear and bilinear maps."""
from ...ops import nn_ops as _nn
from ..._tensor import Tensor

__all__ = ['linear', 'bilinear']


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
