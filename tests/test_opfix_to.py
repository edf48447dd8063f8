"""Tensor.to's three signatures (device/dtype, dtype, other tensor) with positional non_blocking/copy, as PyTorch."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, needs_torch, torch

X = np.arange(6.).reshape(2, 3)
CASES = [
    ('dtype_nb', lambda L, a: a.to(L.float32, True)),
    ('dtype_nb_copy', lambda L, a: a.to(L.float64, False, True)),
    ('device_dtype_nb_copy', lambda L, a: a.to('cpu', L.float32, True, True)),
    ('device_obj_dtype', lambda L, a: a.to(L.device('cpu'), L.int64)),
    ('other', lambda L, a: a.to(L.zeros(1, dtype=L.float32))),
    ('other_nb_copy', lambda L, a: a.to(L.zeros(1, dtype=L.float64), True, True)),
    ('kw', lambda L, a: a.to(dtype=L.float32, device='cpu', non_blocking=True, copy=True, memory_format=None)),
    ('none', lambda L, a: a.to(None, None)),
    ('python_float', lambda L, a: a.float().to(float)),
    ('python_int', lambda L, a: a.to(int)),
    ('python_bool', lambda L, a: a.to(bool)),
    ('empty', lambda L, a: a[:0].to(L.float32, False, True)),
    ('zero_dim', lambda L, a: a[0, 1].to('cpu', L.float32)),
]


@pytest.mark.parametrize('name,fn', CASES, ids=[c[0] for c in CASES])
def test_parity(name, fn):
    assert_parity(fn, X)


def test_identity_and_copy():
    x = ember.ones(2, 3)
    assert x.to(ember.float32) is x and x.to('cpu') is x and x.to(x) is x and x.to() is x
    assert x.to(ember.float32, copy=True) is not x and x.to(ember.float32, False, True) is not x
    a = ember.ones(2, requires_grad=True)
    c = a.to(ember.float32, False, True)
    assert c.grad_fn.name() == 'ToCopyBackward0'
    c.sum().backward()
    assert a.grad.tolist() == [1., 1.]
    assert a.double().to(a.double(), True).dtype is ember.float64


@needs_torch
@pytest.mark.parametrize('call', [
    lambda L, x: x.to(L.float64, 'cpu'), lambda L, x: x.to('cpu', 'cpu'), lambda L, x: x.to(L.float64, 1),
    lambda L, x: x.to(L.float64, None), lambda L, x: x.to(other=x), lambda L, x: x.to(x, True, True, True),
    lambda L, x: x.to(L.float64, dtype=L.int32), lambda L, x: x.to(x, dtype=L.int32),
    lambda L, x: x.to(L.float64, device='cpu'), lambda L, x: x.to('cpu', L.float64, True, True, True)])
def test_invalid_combinations(call):
    with pytest.raises(TypeError) as te:
        call(torch, torch.ones(2))
    with pytest.raises(TypeError) as ee:
        call(ember, ember.ones(2))
    assert str(ee.value) == str(te.value)
