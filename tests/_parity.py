"""The test suite's one set of parity helpers: seeded random inputs, ember against PyTorch (or its recorded answers)."""
import hashlib
import json
import os
import zlib

import numpy as np
import pytest

import ember

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # parity tests skip cleanly without PyTorch, or read its answers from tests/golden/
    torch = None


# ---- random inputs ------------------------------------------------------------------------------------------------
class Rnd:
    """``rnd = Rnd(seed)`` in a test module; ``rnd(*shape, kind='any', dtype=np.float64)`` draws an input array.

    Draws at import time (parametrize tables) come from one stream seeded by ``seed``. Inside a test, each test id
    has its own stream (seeded by ``seed`` and the id), so a case's inputs, and so its golden entry, do not depend on
    which tests ran before it (``-k`` selections find their recorded answers).

    kind: 'any' standard normal; 'pos' |normal| + 0.5; 'unit' 0.9 * tanh(normal), inside (-0.9, 0.9); 'away' on a
    1/3 grid shifted by 0.17, away from integers and 0 (floor/round/abs/relu kinks); (low, high) uniform. An integer
    dtype draws from -4..4 ('pos': 1..5), bool is a fair coin.
    ``seed=`` draws from a fresh generator with that seed instead (the same array on every call).
    """

    def __init__(self, seed):
        self.seed = seed
        self._stream = np.random.default_rng(seed)
        self._test = None

    @property
    def rng(self):
        """The generator for the current context: the module stream, or the running test's own stream."""
        test = os.environ.get('PYTEST_CURRENT_TEST')
        if test is not None:
            node = test.rsplit(' (', 1)[0]
            path, name = node.split('::', 1)
            test = f'{os.path.basename(path)}::{name}'  # the same id whatever directory pytest runs from
            if test != self._test:
                self._test = test
                self._stream = np.random.default_rng([self.seed, zlib.crc32(test.encode())])
        return self._stream

    def __call__(self, *shape, kind='any', dtype=np.float64, seed=None):
        rng = self.rng if seed is None else np.random.default_rng(seed)
        if np.dtype(dtype).kind == 'b':
            return np.asarray(rng.random(shape) > 0.5)
        if np.dtype(dtype).kind in 'iu':  # small integers, so that every op on them is exact
            a = rng.integers(-4, 5, size=shape)
            return np.asarray(np.abs(a) + 1 if kind == 'pos' else a, dtype=dtype)
        if isinstance(kind, tuple):
            return np.asarray(rng.uniform(kind[0], kind[1], shape), dtype=dtype)
        a = rng.standard_normal(shape)
        if kind == 'pos':
            a = np.abs(a) + 0.5
        elif kind == 'unit':
            a = np.tanh(a) * 0.9
        elif kind == 'away':
            a = np.round(a * 3) / 3 + 0.17
        elif kind != 'any':
            raise ValueError(f'unknown kind {kind!r}')
        return np.asarray(a, dtype=dtype)


# ---- running one case through a library ----------------------------------------------------------------------------
def _leaf(lib, x, grad):
    """A tensor of ``lib`` from a NumPy array (dtype kept); floating and complex ones require grad when ``grad``."""
    if not isinstance(x, np.ndarray):
        return x
    t = lib.tensor(x.copy())
    if grad and x.dtype.kind in 'fc':
        t.requires_grad_()
    return t


def _flat_outputs(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat_outputs(o)]
    return [out]


def _np_of(t):
    return t.detach().numpy() if hasattr(t, 'detach') else np.asarray(t)


def _dtype_name(t):
    return str(t.dtype).split('.')[-1] if hasattr(t, 'dtype') else type(t).__name__


def run_op(lib, fn, arrays, grad=True):
    """``fn(lib, *tensors)`` on leaves made from ``arrays``; returns (outputs as NumPy, dtype names, input grads).

    The backward seeds every output that requires grad with fixed real weights (a complex output: one set on its
    real part, another on its imaginary part), so both libraries see the same real loss.
    """
    leaves = [_leaf(lib, x, grad) for x in arrays]
    outs = _flat_outputs(fn(lib, *leaves))
    vals = [_np_of(o).copy() for o in outs]
    dts = [_dtype_name(o) for o in outs]
    grads = None
    if grad:
        loss = None
        for o in outs:
            if not getattr(o, 'requires_grad', False):
                continue
            n, shape = o.numel(), tuple(o.shape)
            w1 = lib.tensor(np.cos(np.arange(n) * 0.7 + 0.3).reshape(shape))
            if o.is_complex():
                w2 = lib.tensor(np.sin(np.arange(n) * 1.3 - 0.2).reshape(shape))
                term = (o.real * w1.to(o.real.dtype)).sum() + (o.imag * w2.to(o.real.dtype)).sum()
            else:
                term = (o * w1.to(o.dtype)).sum()
            loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
        grads = [None if not getattr(t, 'requires_grad', False) or t.grad is None else _np_of(t.grad)
                 for t in leaves]
    return vals, dts, grads


# ---- golden outputs: PyTorch's results recorded in tests/golden/, so parity runs where PyTorch is absent -----------
# A case is keyed by its test id, its call number within the test and a digest of its inputs (so a changed input
# finds no stale entry). With PyTorch installed, recorded entries are checked against PyTorch's fresh results;
# `EMBER_RECORD_GOLDEN=1 python -m pytest tests/test_x.py` (with PyTorch) rewrites them (conftest's session hook
# calls save_golden). Array results live in <module>.npz as arrays; outcomes (assert_same_outcome) as JSON.
GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden')
RECORD = os.environ.get('EMBER_RECORD_GOLDEN') == '1'
_golden, _recorded, _calls = {}, {}, {}


def _golden_key(arrays, grad):
    node = os.environ.get('PYTEST_CURRENT_TEST', 'unknown::unknown').rsplit(' (', 1)[0]
    path, test = node.split('::', 1)
    n = _calls[node] = _calls.get(node, -1) + 1
    h = hashlib.sha1(repr(grad).encode())
    for a in arrays:
        if a is None:  # (an optional input left out)
            h.update(b'None')
            continue
        a = np.asarray(a)
        h.update(f'{a.dtype}{a.shape}'.encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return os.path.basename(path)[:-3], f'{test}#{n}#{h.hexdigest()[:16]}'


def _load_golden(module):
    """{key: (values, dtypes, grads)} for array cases and {key: outcome} for outcome cases of ``module``."""
    if module not in _golden:
        path = os.path.join(GOLDEN_DIR, module + '.npz')
        entries, outcomes = {}, {}
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z['__meta__']))
                for key, (n_vals, dts, grads) in meta.items():
                    vals = [z[f'{key}|v{i}'] for i in range(n_vals)]
                    gs = None if grads is None else [z[f'{key}|g{i}'] if g else None for i, g in enumerate(grads)]
                    entries[key] = (vals, dts, gs)
                if '__outcomes__' in z.files:
                    outcomes = json.loads(str(z['__outcomes__']))
        _golden[module] = (entries, outcomes)
    return _golden[module]


def _torch_side(fn, arrays, grad, golden=True):
    """PyTorch's (values, dtypes, grads) for the case: run live, or read from the golden file without PyTorch."""
    if not golden:
        if torch is None:
            pytest.skip('PyTorch is not installed (this case keeps no golden output)')
        return run_op(torch, fn, arrays, grad)
    module, key = _golden_key(arrays, grad)
    stored = _load_golden(module)[0].get(key)
    if torch is None:
        if stored is None:
            pytest.skip('PyTorch is not installed and no golden output is recorded for this case')
        return stored
    live = run_op(torch, fn, arrays, grad)
    if RECORD:
        _recorded.setdefault(module, ({}, {}))[0][key] = live
    elif stored is not None:  # the recording must still be PyTorch's answer
        for a, b in zip(stored[0] + (stored[2] or []), live[0] + (live[2] or [])):
            if a is not None or b is not None:
                np.testing.assert_array_equal(a, b, err_msg=f'stale golden entry {module}:{key}; re-record it')
        assert stored[1] == live[1], f'stale golden entry {module}:{key}; re-record it'
    return live


def save_golden():
    """Merge this run's recorded PyTorch results into tests/golden/<module>.npz (EMBER_RECORD_GOLDEN=1 runs)."""
    if not RECORD or not _recorded:
        return
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    for module, (new, new_outcomes) in _recorded.items():
        old, old_outcomes = _load_golden(module)
        entries, outcomes = dict(old, **new), dict(old_outcomes, **new_outcomes)
        arrays, meta = {}, {}
        for key, (vals, dts, grads) in sorted(entries.items()):
            for i, v in enumerate(vals):
                arrays[f'{key}|v{i}'] = np.asarray(v)
            if grads is not None:
                for i, g in enumerate(grads):
                    if g is not None:
                        arrays[f'{key}|g{i}'] = np.asarray(g)
            meta[key] = (len(vals), list(dts), None if grads is None else [g is not None for g in grads])
        if outcomes:
            arrays['__outcomes__'] = np.array(json.dumps(outcomes, sort_keys=True))
        np.savez_compressed(os.path.join(GOLDEN_DIR, module + '.npz'), __meta__=np.array(json.dumps(meta)), **arrays)


# ---- the assertions -----------------------------------------------------------------------------------------------
def assert_parity(fn, *arrays, grad=True, rtol=1e-6, atol=1e-8, check_dtype=True, golden=True):
    """ember and PyTorch agree on ``fn(lib, *tensors)``'s outputs (values, shapes, dtypes) and on the inputs'
    gradients (values, shapes, dtypes). ``arrays`` are NumPy arrays (floating ones become leaves requiring grad
    when ``grad``) or other arguments passed as they are.

    Without PyTorch, its recorded answer in tests/golden/ stands in (the case is skipped when none is recorded);
    ``golden=False`` keeps a case with large data out of the recordings (it then needs PyTorch).
    """
    ev, ed, eg = run_op(ember, fn, arrays, grad)
    tv, td, tg = _torch_side(fn, arrays, grad, golden)
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
                if check_dtype:
                    assert e.dtype == t.dtype, f'gradient of input {i}: {e.dtype} != {t.dtype}'
                np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, err_msg=f'gradient of input {i}')


def _jsonable(x):
    """``x`` as JSON would give it back (tuples become lists), so live and recorded outcomes compare equal."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f'an outcome must be plain Python data, not {type(o).__name__}')
    return json.loads(json.dumps(x, default=default))


def outcome(run, lib):
    """``run(lib)`` as plain data, or ['raises', exception type name, message] when it raises (assertions
    propagate)."""
    try:
        return _jsonable(run(lib))
    except AssertionError:
        raise
    except Exception as e:  # noqa: BLE001 - which exception is the outcome
        return ['raises', type(e).__name__, str(e)]


def _raised(out):
    return isinstance(out, list) and len(out) == 3 and out[0] == 'raises'


def _torch_outcome(run):
    """PyTorch's outcome for the case: live (checked against its recording), or recorded when PyTorch is absent."""
    module, key = _golden_key((), 'outcome')
    stored = _load_golden(module)[1].get(key)
    if torch is None:
        if stored is None:
            pytest.skip('PyTorch is not installed and no golden outcome is recorded for this case')
        return stored
    live = outcome(run, torch)
    if RECORD:
        _recorded.setdefault(module, ({}, {}))[1][key] = live
    elif stored is not None:
        assert stored == live, f'stale golden entry {module}:{key}; re-record it'
    return live


def assert_same_outcome(run):
    """``run(ember)`` and ``run(torch)`` give equal plain data (dtype names, lists, shapes...), or both raise the
    same exception type. ``run`` turns results into such data itself; a recorded outcome stands in for PyTorch."""
    expect, got = _torch_outcome(run), outcome(run, ember)
    if _raised(expect) and _raised(got):
        expect, got = expect[:2], got[:2]
    assert got == expect


def assert_raises_like_torch(fn, *args, same_message=False):
    """``fn(lib, *args)`` raises in both libraries, ember's exception being an instance of PyTorch's type (by name,
    along the class hierarchy, so a recorded answer can stand in for PyTorch); with ``same_message``, with PyTorch's
    exact message too."""
    expect = _torch_outcome(lambda L: fn(L, *args))
    assert _raised(expect), f'PyTorch does not raise: {expect}'
    with pytest.raises(Exception) as info:
        fn(ember, *args)
    names = [c.__name__ for c in type(info.value).__mro__]
    assert expect[1] in names, (type(info.value), expect[1])
    if same_message:
        assert str(info.value) == expect[2]


def assert_both_raise(fn, exc, match=None, torch_match=None):
    """``fn(lib)`` raises ``exc`` (message matching ``match``) in ember and, when it is installed, in PyTorch
    (matching ``torch_match``, by default ``match``); without PyTorch the ember half still runs."""
    with pytest.raises(exc, match=match):
        fn(ember)
    if torch is not None:
        with pytest.raises(exc, match=match if torch_match is None else torch_match):
            fn(torch)


def gradcheck_op(fn, *arrays, **kw):
    """ember.autograd.gradcheck of ``fn(ember, *tensors)`` with float64 leaves made from ``arrays``."""
    leaves = [_leaf(ember, x.astype(np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == 'f' else x, True)
              for x in arrays]
    assert ember.autograd.gradcheck(lambda *ts: fn(ember, *ts), tuple(leaves), **kw)


# ---- module parity: float64 leaves in both libraries, closeness, state copying -------------------------------------
def e64(a, rg=True):
    """An ember float64 tensor from a NumPy array."""
    return ember.tensor(a, dtype=ember.float64, requires_grad=rg)


def torch64(a, rg=True):
    """A PyTorch float64 tensor from a NumPy array."""
    return torch.tensor(a, dtype=torch.float64, requires_grad=rg)


def close(a, b, atol=1e-6, equal_nan=False):
    """Same shape and values (tensors of either library, or arrays)."""
    a = a.detach().numpy() if hasattr(a, 'detach') else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, 'detach') else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5, equal_nan=equal_nan)


def copy_from_torch(em, tm):
    """state_dict-compatible: load PyTorch's values into ember's module by name."""
    sd = tm.state_dict()
    assert list(em.state_dict().keys()) == list(sd.keys())
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in sd.items()})


def check_param_grads(em, tm, atol=1e-6, equal_nan=False):
    """The two modules' parameters have the same names, in order, and matching gradients."""
    for (n, p), (n2, q) in zip(em.named_parameters(), tm.named_parameters()):
        assert n == n2
        close(p.grad, q.grad, atol, equal_nan)
