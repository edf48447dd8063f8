"""``torch.ops.aten``: the few ATen operators PyTorch code calls by their aten name, each with its ``.default``
overload (ember has no dispatcher: an operator is a plain function here)."""
from ._util import Tensor, record, _wrap
from ..backends import scatter_add


class _Op:
    """An ATen operator: callable, and its ``.default`` overload is the same function."""

    def __init__(self, fn):
        self.default = self._fn = fn
        self.__name__ = fn.__name__

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def __repr__(self):
        return f'aten.{self.__name__}'


def _max_pool_backward(grad_output, input, indices, nd, name):
    """The gradient max pooling sends back: each output's gradient added at the input position its index names
    (indices are flat over the spatial dims, as max_pool*d(return_indices=True) gives them)."""
    if not all(isinstance(t, Tensor) for t in (grad_output, input, indices)):
        raise TypeError(f'{name}(): grad_output, self and indices must be Tensors')
    for i, (a, b) in enumerate(zip(grad_output.shape, indices.shape)):
        if a != b or grad_output.ndim != indices.ndim:
            raise RuntimeError(f'Expected a tensor of dimension {indices.ndim} and tensor.size[{i}] == {b} but got: '
                               f'dimension {grad_output.ndim} and tensor.size[{i}] = {a}')
    lead = input.shape[:input.ndim - nd]
    xp = input._device.xp
    flat = 1
    for n in input.shape[input.ndim - nd:]:
        flat *= n
    src, idx = grad_output._data.reshape(lead + (-1,)), indices._data.reshape(lead + (-1,))
    out = xp.zeros(lead + (flat,), grad_output._data.dtype)
    key = tuple(xp.arange(n).reshape((-1,) + (1,) * (len(lead) - i)) for i, n in enumerate(lead)) + (idx,)
    scatter_add(out, key, src)
    gs = grad_output.shape
    # linear in grad_output (its gradient gathers back at the indices); constant in the input, as in PyTorch
    return record(out.reshape(input.shape), input._device, (grad_output, input), name,
                  (lambda g: _wrap(xp.take_along_axis(g._data.reshape(lead + (flat,)), idx, -1).reshape(gs),
                                   g._device),
                   lambda g: _wrap(xp.zeros(input.shape, g._data.dtype), g._device)), holds=True)


def max_pool2d_with_indices_backward(grad_output, self, kernel_size, stride, padding, dilation, ceil_mode, indices):
    return _max_pool_backward(grad_output, self, indices, 2, 'MaxPool2DWithIndicesBackwardBackward0')


def max_pool3d_with_indices_backward(grad_output, self, kernel_size, stride, padding, dilation, ceil_mode, indices):
    return _max_pool_backward(grad_output, self, indices, 3, 'MaxPool3DWithIndicesBackwardBackward0')


max_pool2d_with_indices_backward = _Op(max_pool2d_with_indices_backward)
max_pool3d_with_indices_backward = _Op(max_pool3d_with_indices_backward)
