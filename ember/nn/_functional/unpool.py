"""ember.nn.functional: max_unpool1d/2d/3d, the partial inverse of max pooling (values put back at their indices)."""
from ..._tensor import Tensor
from ...ops._util import record, renamed as _renamed
from ...ops.nn_ops import _dtname
from ._spatial import _ntuple

__all__ = ['max_unpool1d', 'max_unpool2d', 'max_unpool3d']


def _unpool_output_size(input, k, st, p, output_size):
    """PyTorch's rule: (in - 1) * stride + kernel - 2 * padding per dim, or ``output_size`` within a stride of it."""
    nd = len(k)
    default = [(input.shape[input.ndim - nd + d] - 1) * st[d] + k[d] - 2 * p[d] for d in range(nd)]
    if output_size is None:
        ret = default
    else:
        output_size = [int(v) for v in output_size]
        if len(output_size) == nd + 2:
            output_size = output_size[2:]
        if len(output_size) != nd:
            raise ValueError(f'output_size should be a sequence containing {nd} or {nd + 2} elements, but it has a '
                             f"length of '{len(output_size)}'")
        for d in range(nd):
            lo, hi = default[d] - st[d], default[d] + st[d]
            if not lo < output_size[d] < hi:
                raise ValueError(f'invalid output_size "{tuple(output_size)}" (dim {d} must be between {lo} and '
                                 f'{hi})')
        ret = output_size
    for d in range(nd):
        if ret[d] < 0:
            raise ValueError(f'max_unpooling: output_size must contain non-negative spatial dimensions, but got '
                             f'output_size[{d}]={ret[d]}')
    return ret


def _unpool(input, indices, size, nd):
    """The aten op (nd = 2 or 3): input and int64 indices of (N, C, *) or (C, *) put into zeros of spatial ``size``;
    the gradient gathers the output's gradient at the indices."""
    if not isinstance(input, Tensor):
        raise TypeError(f"max_unpool{nd}d(): argument 'input' (position 1) must be Tensor, not "
                        f'{type(input).__name__}')
    if not isinstance(indices, Tensor):
        raise TypeError(f"max_unpool{nd}d(): argument 'indices' (position 2) must be Tensor, not "
                        f'{type(indices).__name__}')
    if indices.dtype.name != 'int64':
        raise RuntimeError(f'elements in indices should be type int64 but got: {_dtname(indices)}')
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f'Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) '
                           f'but got indices tensor with shape: {list(indices.shape)}')
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f'Input to max_unpooling{nd}d should be a {nd + 1}d or {nd + 2}d Tensor, but got a tensor '
                           f'with {input.ndim} dimensions.')
    if input.dtype.name not in ('float32', 'float64', 'float16', 'bfloat16'):
        raise NotImplementedError(f'"max_unpool{nd}d" not implemented for \'{_dtname(input)}\'')
    for d in range(input.ndim - nd - 1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f'max_unpooling{nd}d_forward_out_cpu(): Expected input to have non-zero size for '
                               f'non-batch dimensions, but got {list(input.shape)} with dimension {d} being empty.')
    lead = tuple(input.shape[:input.ndim - nd])
    P = 1
    for s in size:
        P *= s
    xp = input._device.xp
    rows = 1
    for s in lead:
        rows *= s
    n_in = 1
    for s in input.shape[input.ndim - nd:]:
        n_in *= s
    idx = indices._data.reshape(rows, n_in)
    if idx.size:
        bad = (idx < 0) | (idx >= P)
        if bool(bad.any()):
            v = int(idx.reshape(-1)[int(bad.reshape(-1).argmax())])
            raise RuntimeError(f'Found an invalid max index: {v} (output volumes are of size '
                               f'{"x".join(map(str, size))})')
    out = xp.zeros((rows, P), input._data.dtype)
    out[xp.arange(rows)[:, None], idx] = input._data.reshape(rows, n_in)
    shape_in = tuple(input.shape)

    def grad(g):
        return g.reshape(rows, P).gather(1, indices.reshape(rows, n_in)).reshape(shape_in)
    return record(out.reshape(lead + tuple(size)), input._device, (input,), f'MaxUnpool{nd}DBackward0', (grad,),
                  (indices,))


def _geometry(kernel_size, stride, padding, nd):
    k = _ntuple(kernel_size, nd, 'kernel_size')
    st = k if stride is None else _ntuple(stride, nd, 'stride')
    return k, st, _ntuple(padding, nd, 'padding')


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool1d: each value of (N, C, L) put at its index of a zero (N, C, L_out)."""
    k, st, p = _geometry(kernel_size, stride, padding, 1)
    size = _unpool_output_size(input, k, st, p, output_size)
    out = _unpool(input.unsqueeze(-1), indices.unsqueeze(-1), size + [1], 2)  # as PyTorch: 2-d with a width of 1
    return _renamed(out.squeeze(-1), 'SqueezeBackward1', input)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool2d: each value of (N, C, H, W) put at its index of a zero (N, C, H_out, W_out)."""
    k, st, p = _geometry(kernel_size, stride, padding, 2)
    return _unpool(input, indices, _unpool_output_size(input, k, st, p, output_size), 2)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool3d on (N, C, D, H, W)."""
    k, st, p = _geometry(kernel_size, stride, padding, 3)
    return _unpool(input, indices, _unpool_output_size(input, k, st, p, output_size), 3)
