"""histogramdd: explicit (also unsorted or degenerate) edges, counts of bins, range, weights, density, empty and
constant inputs, as PyTorch bins them."""
import numpy as np
import pytest

from conftest import assert_parity

X = np.array([[0., 1.], [2., 3.], [1., 1.]], dtype=np.float32)
R = np.random.default_rng(2).standard_normal((20, 3)).astype(np.float32)
CASES = [
    ('unsorted_edges', lambda L, x: L.histogramdd(x, [L.tensor([0., 2., 1.]), L.tensor([1., 2., 3.])]), X),
    ('degenerate_edges', lambda L, x: L.histogramdd(x, [L.tensor([0., 0.]), L.tensor([1., 1.])]), X),
    ('reversed_edges', lambda L, x: L.histogramdd(x, [L.tensor([0.8, 0.1]), L.tensor([0.6, 0.1, 0.9, 0.3])]), X / 3),
    ('one_bin', lambda L, x: L.histogramdd(x, (1, 1)), X),
    ('constant', lambda L, x: L.histogramdd(x, (2, 2)), np.ones((3, 2), np.float32)),
    ('range', lambda L, x: L.histogramdd(x, 2, range=[0., 1., 0., 1.]), X),
    ('range_equal', lambda L, x: L.histogramdd(x, [2, 3], range=[0., 4., 1., 1.]), X),
    ('empty', lambda L, x: L.histogramdd(x, 2), np.zeros((0, 2), np.float32)),
    ('weighted_density', lambda L, x, w: L.histogramdd(x, [2, 3], weight=w, density=True), X,
     np.array([2., 3., 1.], np.float32)),
    ('random', lambda L, x: L.histogramdd(x, (3, 4, 5)), R),
    ('random_density', lambda L, x: L.histogramdd(x, (3, 4, 5), density=True), R),
]


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_histogramdd(case):
    assert_parity(case[1], *case[2:], grad=False, rtol=1e-6, atol=1e-7)
