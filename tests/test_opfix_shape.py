"""squeeze with a tuple of dims, tensor_split with tensors/negative/unsorted indices, var_mean/std_mean with the
positional unbiased flag: parity with PyTorch (values and gradients) and PyTorch's errors."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op, needs_torch, torch

X = np.random.default_rng(4).standard_normal((5, 2))
Y = np.random.default_rng(5).standard_normal((1, 2, 1, 1))
CASES = [
    ('squeeze_empty_tuple', lambda L, a: L.squeeze(a, ()), Y),
    ('squeeze_tuple', lambda L, a: a.squeeze((0, 2)), Y),
    ('squeeze_tuple_kw', lambda L, a: a.squeeze(dim=(0, -1)), Y),
    ('squeeze_0d_tuple', lambda L, a: L.squeeze(a, (0,)), np.array(1.5)),
    ('squeeze_0d_empty', lambda L, a: L.squeeze(a, ()), np.array(1.5)),
    ('squeeze_not_one', lambda L, a: a.squeeze((1,)), Y),
    ('ts_tensor_sections', lambda L, a: L.tensor_split(a, L.tensor(3)), X),
    ('ts_tensor_indices', lambda L, a: L.tensor_split(a, L.tensor([1, 3])), X),
    ('ts_unsorted', lambda L, a: L.tensor_split(a, L.tensor([4, 1])), X),
    ('ts_negative', lambda L, a: L.tensor_split(a, [-1, 7]), X),
    ('ts_clamped', lambda L, a: L.tensor_split(a, (-7, 2)), X),
    ('ts_more_sections', lambda L, a: L.tensor_split(a, 7), X),
    ('ts_dim', lambda L, a: a.tensor_split(L.tensor([1]), -1), X),
    ('ts_no_indices', lambda L, a: L.tensor_split(a, L.tensor([], dtype=L.int64)), X),
    ('ts_zero_index', lambda L, a: L.tensor_split(a, L.tensor([0])), X),
    ('var_mean_unbiased', lambda L, a: L.var_mean(a, True), X),
    ('var_mean_biased', lambda L, a: L.var_mean(a, False), X),
    ('std_mean_unbiased', lambda L, a: L.std_mean(a, True), X),
    ('std_mean_dim_unbiased_keepdim', lambda L, a: L.std_mean(a, 1, False, True), X),
    ('var_mean_0d', lambda L, a: L.var_mean(a, False), np.array(2.)),
]


@pytest.mark.parametrize('name,fn,x', CASES, ids=[c[0] for c in CASES])
def test_parity(name, fn, x):
    assert_parity(fn, x)


def test_gradcheck():
    gradcheck_op(lambda L, a: L.std_mean(a, False), X)
    gradcheck_op(lambda L, a: L.tensor_split(a, L.tensor([4, 1]))[0] * 2, X)
    gradcheck_op(lambda L, a: a.squeeze((0, 2)), Y)


@needs_torch
@pytest.mark.parametrize('call', [
    lambda L, x: L.tensor_split(x, 0), lambda L, x: L.tensor_split(x, -1), lambda L, x: L.tensor_split(x, L.tensor(0)),
    lambda L, x: L.tensor_split(x, L.tensor(2.)), lambda L, x: L.tensor_split(x, L.tensor([[1]])),
    lambda L, x: L.tensor_split(x[0, 0], 2), lambda L, x: x.squeeze((0, 0)), lambda L, x: x.squeeze((4,)),
    lambda L, x: L.squeeze(x[0, 0], (0, -1)), lambda L, x: L.sum(x, (1, -1))])
def test_errors_match_torch(call):
    with pytest.raises(Exception) as te:
        call(torch, torch.ones(5, 2))
    with pytest.raises(Exception) as ee:
        call(ember, ember.ones(5, 2))
    assert type(ee.value) is type(te.value) and str(ee.value) == str(te.value)
