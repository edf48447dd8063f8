"""Shared test helpers: optional PyTorch for parity checks, float64 gradcheck shortcuts."""
import os

# One BLAS thread in tests: spinning OpenBLAS threads on a busy 2-core machine make matmuls 100x slower.
for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import hashlib  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ember  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # parity tests skip cleanly without PyTorch
    torch = None

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


# ---- op-test helpers: one NumPy input set, run through ember and PyTorch ------------------------------------------
def _leaf(lib, x, grad):
    """A tensor of ``lib`` from a NumPy array (dtype kept); floating ones require grad when ``grad``."""
    if not isinstance(x, np.ndarray):
        return x
    t = lib.tensor(x.copy())
    if grad and x.dtype.kind == 'f':
        t.requires_grad_()
    return t


def _flat_outputs(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat_outputs(o)]
    return [out]


def _np_of(t):
    return t.detach().numpy() if hasattr(t, 'detach') else np.asarray(t)


def run_op(lib, fn, arrays, grad=True):
    """``fn(lib, *tensors)`` on leaves made from ``arrays``; returns (outputs as NumPy, dtype names, input grads).

    The backward seeds every floating output that requires grad with fixed weights, so both libraries see the
    same upstream gradient.
    """
    leaves = [_leaf(lib, x, grad) for x in arrays]
    outs = _flat_outputs(fn(lib, *leaves))
    vals = [_np_of(o).copy() for o in outs]
    dts = [str(o.dtype).split('.')[-1] for o in outs]
    grads = None
    if grad:
        loss = None
        for o in outs:
            if getattr(o, 'requires_grad', False):
                w = lib.tensor(np.cos(np.arange(o.numel()) * 0.7 + 0.3).reshape(tuple(o.shape))).to(o.dtype)
                term = (o * w).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
        grads = [None if not getattr(t, 'requires_grad', False) or t.grad is None else _np_of(t.grad)
                 for t in leaves]
    return vals, dts, grads


# ---- golden outputs: PyTorch's results recorded in tests/golden/, so parity runs where PyTorch is absent -----------
# A case is keyed by its test id, its call number within the test and a digest of its inputs (so a changed input
# finds no stale entry). With PyTorch installed, recorded entries are checked against PyTorch's fresh results;
# `EMBER_RECORD_GOLDEN=1 python -m pytest tests/test_ops_*.py` (with PyTorch) rewrites them.
GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden')
_RECORD = os.environ.get('EMBER_RECORD_GOLDEN') == '1'
_golden, _recorded, _calls = {}, {}, {}


def _golden_key(arrays, grad):
    node = os.environ.get('PYTEST_CURRENT_TEST', 'unknown::unknown').rsplit(' (', 1)[0]
    path, test = node.split('::', 1)
    n = _calls[node] = _calls.get(node, -1) + 1
    h = hashlib.sha1(repr(grad).encode())
    for a in arrays:
        a = np.asarray(a)
        h.update(f'{a.dtype}{a.shape}'.encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return os.path.basename(path)[:-3], f'{test}#{n}#{h.hexdigest()[:16]}'


def _load_golden(module):
    if module not in _golden:
        path = os.path.join(GOLDEN_DIR, module + '.npz')
        entries = {}
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z['__meta__']))
                for key, (n_vals, dts, grads) in meta.items():
                    vals = [z[f'{key}|v{i}'] for i in range(n_vals)]
                    gs = None if grads is None else [z[f'{key}|g{i}'] if g else None for i, g in enumerate(grads)]
                    entries[key] = (vals, dts, gs)
        _golden[module] = entries
    return _golden[module]


def _torch_side(fn, arrays, grad):
    """PyTorch's (values, dtypes, grads) for the case: run live, or read from the golden file without PyTorch."""
    module, key = _golden_key(arrays, grad)
    stored = _load_golden(module).get(key)
    if torch is None:
        if stored is None:
            pytest.skip('PyTorch is not installed and no golden output is recorded for this case')
        return stored
    live = run_op(torch, fn, arrays, grad)
    if _RECORD:
        _recorded.setdefault(module, {})[key] = live
    elif stored is not None:  # the recording must still be PyTorch's answer
        for a, b in zip(stored[0] + (stored[2] or []), live[0] + (live[2] or [])):
            if a is not None or b is not None:
                np.testing.assert_array_equal(a, b, err_msg=f'stale golden entry {module}:{key}; re-record it')
        assert stored[1] == live[1], f'stale golden entry {module}:{key}; re-record it'
    return live


def pytest_sessionfinish(session):
    """With EMBER_RECORD_GOLDEN=1, merge this run's PyTorch results into tests/golden/<module>.npz."""
    if not _RECORD or not _recorded:
        return
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    for module, new in _recorded.items():
        entries = dict(_load_golden(module), **new)
        arrays, meta = {}, {}
        for key, (vals, dts, grads) in sorted(entries.items()):
            for i, v in enumerate(vals):
                arrays[f'{key}|v{i}'] = np.asarray(v)
            if grads is not None:
                for i, g in enumerate(grads):
                    if g is not None:
                        arrays[f'{key}|g{i}'] = np.asarray(g)
            meta[key] = (len(vals), list(dts), None if grads is None else [g is not None for g in grads])
        np.savez_compressed(os.path.join(GOLDEN_DIR, module + '.npz'), __meta__=np.array(json.dumps(meta)), **arrays)


def assert_parity(fn, *arrays, grad=True, rtol=1e-6, atol=1e-8, check_dtype=True):
    """ember and PyTorch agree on ``fn``'s outputs (values, shapes, dtypes) and on the inputs' gradients.

    Without PyTorch, its recorded answer in tests/golden/ stands in (the case is skipped when none is recorded).
    """
    ev, ed, eg = run_op(ember, fn, arrays, grad)
    tv, td, tg = _torch_side(fn, arrays, grad)
    assert len(ev) == len(tv)
    for e, t in zip(ev, tv):
        assert e.shape == t.shape, (e.shape, t.shape)
        np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, equal_nan=True)
    if check_dtype:
        assert ed == td
    if grad:
        for i, (e, t) in enumerate(zip(eg, tg)):
            assert (e is None) == (t is None), f'input {i}: ember grad {e is not None}, torch grad {t is not None}'
            if e is not None:
                assert e.shape == t.shape
                np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, err_msg=f'gradient of input {i}')


def gradcheck_op(fn, *arrays, **kw):
    """ember.autograd.gradcheck of ``fn(ember, *tensors)`` with float64 leaves made from ``arrays``."""
    leaves = [_leaf(ember, x.astype(np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == 'f' else x, True)
              for x in arrays]
    assert ember.autograd.gradcheck(lambda *ts: fn(ember, *ts), tuple(leaves), **kw)
