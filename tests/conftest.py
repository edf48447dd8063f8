"""Shared test fixtures; the parity helpers live in _parity.py (re-exported here for older imports)."""
import os

# One BLAS thread in tests: spinning OpenBLAS threads on a busy 2-core machine make matmuls 100x slower.
for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ember  # noqa: E402

from _parity import torch, run_op, assert_parity, gradcheck_op, save_golden  # noqa: E402,F401

__all__ = ['torch', 'needs_torch', 'run_op', 'assert_parity', 'gradcheck_op', 't64']  # older imports
needs_torch = pytest.mark.skipif(torch is None, reason='PyTorch is not installed')


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def clean_load_settings(monkeypatch):
    """A checkpoint test starts from the default weights_only settings and leaves them as it found them."""
    import ember.serialization as ser
    monkeypatch.delenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', raising=False)
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    saved = ser.get_safe_globals()
    ser.clear_safe_globals()
    yield
    ser.clear_safe_globals()
    ser.add_safe_globals(saved)
    ser.set_load_memory_budget(None)


def t64(*shape, requires_grad=True, positive=False, seed=None):
    """A float64 leaf tensor for gradcheck."""
    rng = np.random.default_rng(seed if seed is not None else sum(shape) + len(shape))
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return ember.tensor(a, dtype=ember.float64, requires_grad=requires_grad)


def pytest_sessionfinish(session):
    """With EMBER_RECORD_GOLDEN=1, merge this run's PyTorch results into tests/golden/<module>.npz."""
    save_golden()
