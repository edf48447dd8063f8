"""Shared test helpers: optional PyTorch for parity checks, float64 gradcheck shortcuts."""
import numpy as np
import pytest

import ember

try:
    import torch
except ImportError:  # parity tests skip cleanly without PyTorch
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason='PyTorch is not installed')


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)
    np.random.seed(0)
    yield


def t64(*shape, requires_grad=True, positive=False, seed=None):
    """A float64 leaf tensor for gradcheck."""
    rng = np.random.default_rng(seed if seed is not None else sum(shape) + len(shape))
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return ember.tensor(a, dtype=ember.float64, requires_grad=requires_grad)
