"""ember.ops.aten (torch.ops.aten): max_pool{2,3}d_with_indices_backward against PyTorch, batched and unbatched."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op

rng = np.random.default_rng(11)


def _mp2(L, x, g):
    out, idx = L.nn.functional.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, return_indices=True)
    return L.ops.aten.max_pool2d_with_indices_backward.default(g[..., :out.shape[-2], :out.shape[-1]], x, [3, 3],
                                                               [2, 2], [1, 1], [1, 1], True, idx)


def _mp3(L, x, g):
    out, idx = L.nn.functional.max_pool3d(x, 2, return_indices=True)
    return L.ops.aten.max_pool3d_with_indices_backward(g, x, [2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], False, idx)


@pytest.mark.parametrize('shape', [(2, 3, 5, 6), (3, 5, 6)])
def test_max_pool2d_backward(shape):
    assert_parity(_mp2, rng.standard_normal(shape), rng.standard_normal(shape[:-2] + (3, 4)))


def test_max_pool3d_backward():
    assert_parity(_mp3, rng.standard_normal((1, 2, 4, 4, 4)), rng.standard_normal((1, 2, 2, 2, 2)))


def test_gradient_and_names():
    x = ember.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    r = _mp2(ember, x, ember.ones(1, 2, 3, 3))
    assert r.grad_fn.name() == 'MaxPool2DWithIndicesBackwardBackward0'
    assert ember.autograd.grad(r.sum(), x)[0].abs().sum().item() == 0
    gradcheck_op(lambda L, g, x: _mp2(L, x.detach(), g), rng.standard_normal((1, 2, 3, 3)),
                 rng.standard_normal((1, 2, 4, 4)))
    assert repr(ember.ops.aten.max_pool2d_with_indices_backward) == 'aten.max_pool2d_with_indices_backward'


def test_shape_error():
    x = ember.zeros(1, 2, 4, 4)
    _, idx = ember.nn.functional.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(RuntimeError, match=r'Expected a tensor of dimension 4 and tensor.size\[2\] == 2 but got: '
                                           r'dimension 4 and tensor.size\[2\] = 3'):
        ember.ops.aten.max_pool2d_with_indices_backward(ember.ones(1, 2, 3, 3), x, [2, 2], [2, 2], [0, 0], [1, 1],
                                                        False, idx)
