"""An in-place op under autograd computes from a copy of its input exactly when its backward saved that input (the
op's own ``saved`` declaration decides, ops/inplace.py; no list of ops): gradients equal the out-of-place op's."""
import numpy as np
import pytest

import ember
from ember.ops import inplace


def _w():
    return ember.tensor(np.cos(np.arange(12.0)).reshape(3, 4))


def _other():
    return ember.tensor(np.linspace(0.5, 1.7, 12).reshape(3, 4))


IDX = ember.tensor([[0], [2], [1]])
# (in-place method, its arguments): each compared with the out-of-place method of the same name
CASES = [
    ('add_', lambda: (_other(),)), ('sub_', lambda: (_other(),)), ('mul_', lambda: (_other(),)),
    ('mul_', lambda: (2.5,)), ('div_', lambda: (_other(),)), ('div_', lambda: (2.5,)), ('pow_', lambda: (2,)),
    ('pow_', lambda: (_other(),)), ('remainder_', lambda: (0.7,)), ('clamp_', lambda: (-0.3, 0.4)),
    ('exp_', tuple), ('expm1_', tuple), ('log_', tuple), ('log1p_', tuple), ('sqrt_', tuple), ('rsqrt_', tuple),
    ('abs_', tuple), ('neg_', tuple), ('relu_', tuple), ('sigmoid_', tuple), ('tanh_', tuple), ('sin_', tuple),
    ('cos_', tuple), ('reciprocal_', tuple), ('square_', tuple), ('round_', tuple), ('floor_', tuple),
    ('sign_', tuple), ('tril_', tuple), ('triu_', lambda: (1,)), ('maximum_', lambda: (_other() - 1,)),
    ('minimum_', lambda: (_other() - 1,)), ('masked_fill_', lambda: (ember.tensor(np.arange(12).reshape(3, 4) % 3 == 0), 2.0)),
    ('scatter_', lambda: (1, IDX, 5.0)), ('scatter_add_', lambda: (1, IDX, _other()[:, :1])),
    ('index_add_', lambda: (0, ember.tensor([0, 2]), _other()[:2])),
]


def _grad(name, args, inplace_form):
    x = ember.tensor(np.linspace(0.1, 0.9, 12).reshape(3, 4), requires_grad=True)
    y = x * 1.5  # a non-leaf: the in-place op rewrites its graph position
    y = getattr(y, name)(*args) if inplace_form else getattr(y, name[:-1])(*args)
    (y * _w()).sum().backward()
    return x.grad.numpy()


@pytest.mark.parametrize('name,make', CASES, ids=[f'{c[0]}{i}' for i, c in enumerate(CASES)])
def test_inplace_gradient_equals_out_of_place(name, make):
    np.testing.assert_allclose(_grad(name, make(), True), _grad(name, make(), False), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('name,make,copies', [
    ('add_', lambda: (_other(),), False), ('exp_', tuple, False), ('relu_', tuple, False),
    ('sigmoid_', tuple, False), ('mul_', lambda: (_other(),), True), ('sin_', tuple, True),
    ('clamp_', lambda: (-0.3, 0.4), True)])
def test_computes_from_a_copy_only_when_the_backward_saved_the_input(monkeypatch, name, make, copies):
    calls = []
    real = inplace._operand
    monkeypatch.setattr(inplace, '_operand', lambda a, copy=False: calls.append(copy) or real(a, copy))
    _grad(name, make(), True)
    assert calls == ([False, True] if copies else [False])


def test_flip_is_a_copy():
    y = ember.arange(6.0).reshape(2, 3)
    f = y.flip(0)
    y.add_(100)
    assert f.tolist() == [[3.0, 4.0, 5.0], [0.0, 1.0, 2.0]]


@pytest.mark.parametrize('op', ['getitem', 'gather', 'where', 'embedding', 'scatter_add', 'index_add'])
def test_editing_an_index_or_mask_argument_after_the_forward_fails_the_backward_as_in_pytorch(op):
    """Index and mask tensors are saved as PyTorch saves them: an in-place edit moves no gradient silently."""
    x = ember.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    idx = ember.tensor([[0, 1, 0, 2]])
    if op == 'getitem':
        y = x[idx[0]]
    elif op == 'gather':
        y = x.gather(0, idx)
    elif op == 'where':
        idx = x.detach() > 5
        y = ember.where(idx, x, 0.0)
    elif op == 'embedding':
        y = ember.nn.functional.embedding(idx, x)
    elif op == 'scatter_add':
        y = ember.zeros(3, 4, dtype=x.dtype).scatter_add(0, idx, x[:1])
    else:
        y = ember.zeros(3, 4, dtype=x.dtype).index_add(0, idx[0, :2], x[:2])
    with ember.no_grad():
        idx.copy_(idx.flip(-1))
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        y.sum().backward()
