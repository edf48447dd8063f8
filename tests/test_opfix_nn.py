"""nn.functional fixes: unfold/fold on empty batches, circular pad with negative amounts, embedding_bag (padding_idx,
per_sample_weights, empty bags, max), multi_margin_loss and multilabel_margin_loss (0-dim, 1-dim,
duplicate targets), prelu with a 0-dim weight, batch_norm/group_norm on 1-dim and empty inputs: parity with PyTorch
(values and gradients), gradcheck and PyTorch's errors."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op, needs_torch, torch

rng = np.random.default_rng(7)
X = rng.standard_normal((4, 5))
T4 = np.array([3, 0, 4, 4])
W5 = rng.random(5)
ML = np.array([[3, 0, -1, 1, 2], [2, 2, 1, 0, -1], [-1, 0, 0, 0, 0], [4, 3, 2, 1, 0]])


def F(L):
    return L.nn.functional


CASES = [
    ('unfold_empty_batch', lambda L, x: F(L).unfold(x, 2, padding=1, stride=(1, 2)), np.zeros((0, 1, 5, 5))),
    ('unfold', lambda L, x: F(L).unfold(x, (2, 3), dilation=(1, 2)), rng.standard_normal((2, 2, 5, 6))),
    ('fold_empty_batch', lambda L, x: F(L).fold(x, (5, 5), 2), np.zeros((0, 4, 16))),
    ('mm_0d', lambda L, x: F(L).multi_margin_loss(x, L.tensor(0)), np.array(0.5)),
    ('mm_1d_0d_target', lambda L, x: F(L).multi_margin_loss(x, L.tensor(2), p=2, reduction='none'), X[0]),
    ('mm_1d_1d_target', lambda L, x: F(L).multi_margin_loss(x, L.tensor([2]), reduction='none'), X[0]),
    ('mm_weight', lambda L, x: F(L).multi_margin_loss(x, L.tensor(T4), weight=L.tensor(W5), margin=0.7), X),
    ('mm_neg_margin_sum', lambda L, x: F(L).multi_margin_loss(x, L.tensor(T4), margin=-0.5, reduction='sum'), X),
    ('mm_p2_none', lambda L, x: F(L).multi_margin_loss(x, L.tensor(T4), p=2, reduction='none'), X),
    ('mm_empty_none', lambda L, x: F(L).multi_margin_loss(x, L.zeros(0, dtype=L.int64), reduction='none'),
     np.zeros((0, 4))),
    ('ml_0d', lambda L, x: F(L).multilabel_margin_loss(x, L.tensor(0)), np.array(0.5)),
    ('ml_0d_none', lambda L, x: F(L).multilabel_margin_loss(x, L.tensor(-1), reduction='none'), np.array(0.5)),
    ('ml_1d', lambda L, x: F(L).multilabel_margin_loss(x, L.tensor(ML[0])), X[0]),
    ('ml_none', lambda L, x: F(L).multilabel_margin_loss(x, L.tensor(ML), reduction='none'), X),
    ('ml_sum', lambda L, x: F(L).multilabel_margin_loss(x, L.tensor(ML), reduction='sum'), X),
    ('ml_empty_none', lambda L, x: F(L).multilabel_margin_loss(x, L.zeros(0, 4, dtype=L.int64), reduction='none'),
     np.zeros((0, 4))),  # (PyTorch's mean and sum over no samples read uninitialised memory)
    ('prelu_0d_weight', lambda L, x, w: F(L).prelu(x, w), X, np.array(0.25)),
    ('prelu_0d_input', lambda L, x, w: F(L).prelu(x, w), np.array(-2.), np.array(0.25)),
    ('prelu_0d_input_1d_weight', lambda L, x, w: F(L).prelu(x, w), np.array(-2.), np.array([0.25])),
    ('prelu_1d_input', lambda L, x, w: F(L).prelu(x, w), X[0], np.array(0.1)),
    ('prelu_channels', lambda L, x, w: F(L).prelu(x, w), rng.standard_normal((2, 3, 4)), np.array([.1, .2, .3])),
    ('prelu_empty', lambda L, x, w: F(L).prelu(x, w), np.zeros((1, 0, 3)), np.array(0.5)),
    ('bn_1d_empty_train', lambda L, x: F(L).batch_norm(x, L.zeros(0), L.zeros(0), training=True), np.zeros(0)),
    ('bn_1d_empty_eval', lambda L, x: F(L).batch_norm(x, L.zeros(0), L.zeros(0), training=False), np.zeros(0)),
    ('bn_empty_batch', lambda L, x, w, b: F(L).batch_norm(x, L.zeros(3), L.ones(3), w, b, training=True),
     np.zeros((0, 3, 2)), np.ones(3), np.zeros(3)),
    ('bn_no_channels', lambda L, x: F(L).batch_norm(x, L.zeros(0), L.zeros(0), training=True), np.zeros((2, 0, 4))),
    ('gn_empty_batch', lambda L, x: F(L).group_norm(x, 3), np.zeros((0, 6, 2))),
    ('gn_no_channels', lambda L, x: F(L).group_norm(x, 3), np.zeros((2, 0, 2))),
    ('pad_circular_crop', lambda L, x: F(L).pad(x, (-1, 1, -2, 1), 'circular'), rng.standard_normal((1, 3, 4, 4))),
    ('pad_circular_crop_1d', lambda L, x: F(L).pad(x, (2, -1), 'circular'), rng.standard_normal((1, 2, 5))),
    ('pad_circular_both_neg', lambda L, x: F(L).pad(x, (-2, -1), 'circular'), rng.standard_normal((1, 2, 5))),
    ('pad_circular_3d', lambda L, x: F(L).pad(x, (1, 1, 1, 1, 1, 1), 'circular'), rng.standard_normal((1, 3, 3, 3))),
    ('pad_circular_empty', lambda L, x: F(L).pad(x, (1, 2), 'circular'), np.zeros((0, 3, 3))),
    ('eb_padding_neg_psw', lambda L, w, p: F(L).embedding_bag(L.tensor([1, 4, 3, 4, 0, 2]), w, L.tensor([0, 2]),
                                                            mode='sum', per_sample_weights=p, padding_idx=-1),
     rng.standard_normal((5, 3)), rng.standard_normal(6)),
    ('eb_mean_empty_bag', lambda L, w: F(L).embedding_bag(L.tensor([1, 4, 3, 4, 0]), w, L.tensor([0, 2, 2]),
                                                         padding_idx=4), rng.standard_normal((5, 3))),
    ('eb_max_2d_padding', lambda L, w: F(L).embedding_bag(L.tensor([[1, 4, 2], [4, 4, 4]]), w, mode='max',
                                                         padding_idx=4), rng.standard_normal((5, 3))),
    ('eb_max_repeats', lambda L, w: F(L).embedding_bag(L.tensor([1, 1, 3, 2, 2]), w, L.tensor([0, 3]), mode='max'),
     rng.standard_normal((5, 3))),
    ('eb_last_offset', lambda L, w: F(L).embedding_bag(L.tensor([1, 1, 3]), w, L.tensor([0, 1, 3]), mode='mean',
                                                      include_last_offset=True), rng.standard_normal((5, 3))),
    ('eb_2d_psw', lambda L, w, p: F(L).embedding_bag(L.tensor([[1, 2], [0, 0]]), w, mode='sum',
                                                     per_sample_weights=p), rng.standard_normal((5, 3)),
     rng.standard_normal((2, 2))),
]


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_parity(case):
    assert_parity(case[1], *case[2:])


def test_gradcheck():
    gradcheck_op(lambda L, x: F(L).multi_margin_loss(x, L.tensor(T4), p=2, margin=0.8), X)
    gradcheck_op(lambda L, x: F(L).multilabel_margin_loss(x, L.tensor(ML), reduction='none'), X)
    gradcheck_op(lambda L, x, w: F(L).prelu(x, w), X, np.array(0.3))
    gradcheck_op(lambda L, x: F(L).unfold(x, 2, padding=1), rng.standard_normal((1, 2, 3, 3)))
    gradcheck_op(lambda L, x: F(L).pad(x, (-1, 2), 'circular'), rng.standard_normal((1, 2, 4)))
    gradcheck_op(lambda L, w: F(L).embedding_bag(L.tensor([1, 4, 3, 4]), w, L.tensor([0, 1]), mode='max'),
                 rng.standard_normal((5, 3)))


def test_batch_norm_empty_keeps_running_stats():
    rm, rv = ember.zeros(3), ember.ones(3)
    ember.nn.functional.batch_norm(ember.zeros(0, 3), rm, rv, training=True)
    assert rm.tolist() == [0., 0., 0.] and rv.tolist() == [1., 1., 1.]


@needs_torch
@pytest.mark.parametrize('call', [
    lambda L: F(L).unfold(L.zeros(1, 0, 5, 5), 2), lambda L: F(L).unfold(L.zeros(0, 5, 5), 2),
    lambda L: F(L).unfold(L.zeros(1, 2, 3, 3), 2, dilation=0), lambda L: F(L).unfold(L.zeros(1, 2, 3, 3), 0),
    lambda L: F(L).unfold(L.zeros(1, 2, 3, 3), 2, padding=-1), lambda L: F(L).fold(L.zeros(1, 4, 4), 3, 2, stride=0),
    lambda L: F(L).fold(L.zeros(1, 0, 16), (5, 5), 2),
    lambda L: F(L).multi_margin_loss(L.zeros(2, 4), L.tensor([4, 0])),
    lambda L: F(L).multi_margin_loss(L.zeros(2, 4), L.tensor([3])),
    lambda L: F(L).multi_margin_loss(L.zeros(2, 4), L.tensor([3, 0]), weight=L.ones(2)),
    lambda L: F(L).multi_margin_loss(L.zeros(2, 4), L.tensor([3, 0]), p=3),
    lambda L: F(L).multi_margin_loss(L.zeros(2, 0), L.tensor([3, 0])),
    lambda L: F(L).multi_margin_loss(L.zeros(2, 4), L.tensor([3., 0.])),
    lambda L: F(L).multilabel_margin_loss(L.zeros(2, 4), L.tensor([[4, 0, 1, 1]] * 2)),
    lambda L: F(L).multilabel_margin_loss(L.zeros(2, 4), L.tensor([[-3, 0, 1, 1]] * 2)),
    lambda L: F(L).multilabel_margin_loss(L.zeros(2, 4), L.tensor([[3, 0, 1]] * 2)),
    lambda L: F(L).prelu(L.zeros(3), L.ones(3)), lambda L: F(L).prelu(L.tensor(1.), L.ones(2)),
    lambda L: F(L).prelu(L.zeros(2, 3), L.ones(1, 3)), lambda L: F(L).prelu(L.tensor([1, 2]), L.tensor([1])),
    lambda L: F(L).prelu(L.zeros(2, 3), L.ones(3, dtype=L.float64)), lambda L: F(L).prelu(L.zeros(2, 3), 0.5),
    lambda L: F(L).multi_margin_loss(L.zeros(2, 4), L.tensor([3, 0]), weight=L.ones(4, requires_grad=True)),
    lambda L: F(L).embedding_bag(L.tensor([1, 2]), L.ones(5, 3), L.tensor([1])),
    lambda L: F(L).embedding_bag(L.tensor([1, 2]), L.ones(5, 3), L.tensor([0]), mode='foo'),
    lambda L: F(L).embedding_bag(L.tensor([1, 2]), L.ones(5, 3), L.tensor([0]), per_sample_weights=L.ones(2)),
    lambda L: F(L).embedding_bag(L.tensor([1, 2]), L.ones(5, 3), L.tensor([0]), per_sample_weights=L.ones(3)),
    lambda L: F(L).embedding_bag(L.tensor([1, 2]), L.ones(5, 3)),
    lambda L: F(L).embedding_bag(L.tensor([[[1, 2]]]), L.ones(5, 3)),
    lambda L: F(L).embedding_bag(L.tensor([1, 2, 3]), L.ones(5, 3), L.tensor([0, 2, 5])),
    lambda L: F(L).pad(L.ones(1, 1, 5), (6, 0), 'circular'),
    lambda L: F(L).batch_norm(L.arange(3.), L.zeros(3), L.ones(3)),
    lambda L: F(L).batch_norm(L.arange(3.), None, None, training=True),
    lambda L: F(L).batch_norm(L.zeros(2, 3), L.zeros(2), L.ones(3)),
    lambda L: F(L).batch_norm(L.zeros(2, 3), None, None, L.ones(2), training=True),
    lambda L: F(L).batch_norm(L.zeros(2, 3), None, None),
    lambda L: F(L).batch_norm(L.zeros(1, 3), None, None, training=True),
])
def test_errors_match_torch(call):
    with pytest.raises(Exception) as te:
        call(torch)
    with pytest.raises(Exception) as ee:
        call(ember)
    # (the first line: PyTorch appends a C++ type dump to some of these)
    assert type(ee.value) is type(te.value) and str(ee.value).splitlines()[0] == str(te.value).splitlines()[0]
