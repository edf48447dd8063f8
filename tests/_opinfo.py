"""Runs PyTorch's OpInfo database (op_db) through ember: one verdict per public entry (used by test_opinfo.py).

Per entry, with at most ``MAX_SAMPLES`` of its CPU sample inputs per pass (the first ones PyTorch generates, which
cover its 0-dim, empty, broadcast and non-contiguous cases for most ops):
- forward in float32 and float64 (or, for ops without floating support, complex64/complex128, else int64/bool):
  ember's result must match PyTorch's in type, dtype, shape and values (complex ones too);
- float64 (or, for complex-only ops, complex128) gradients of a random projection of the
  (``output_process_fn_grad``-processed) outputs with respect to every input that requires grad; a complex output is
  projected with random real weights on its real and imaginary parts.
Both frameworks are seeded with 0 before each call. Inputs cross over through NumPy as copies that keep the
layout (transposed and strided samples stay non-contiguous).

Run ``python tests/_opinfo.py [--write] [names...]`` to print every failing entry's reason (``--write`` records the
counts in docs/opinfo.json).
"""
import itertools
import json
import math
import os
import sys
import types

import numpy as np

import ember

MAX_SAMPLES = 8      # per pass and dtype: keeps the whole database within CI time
_EXCLUDE_PREFIX = ('_', 'torch._', 'masked.', 'signal.', 'sparse.', 'special.', 'ops.', 'torch.ops')


class Unsupported(Exception):
    """A sample input of a kind ember cannot represent (complex32 or bfloat16 tensors, ...)."""


def entry_name(op):
    return op.name + ('/' + op.variant_test_name if op.variant_test_name else '')


def public_entries():
    """PyTorch's public OpInfo entries as issue 12 counts them (585 in PyTorch 2.13)."""
    from torch.testing._internal.common_methods_invocations import op_db
    return [op for op in op_db if not op.name.startswith(_EXCLUDE_PREFIX) and 'jiterator' not in op.name
            and not op.name.endswith(('_copy', '_scatter'))]


# ---- torch -> ember --------------------------------------------------------------------------------------------
def _layout_copy(arr):
    """A copy of ``arr`` that keeps it non-contiguous when it was (same permutation; gaps become stride 2)."""
    if arr.ndim == 0 or arr.size == 0 or arr.flags.c_contiguous:
        return arr.copy()
    order = sorted(range(arr.ndim), key=lambda d: -abs(arr.strides[d]))
    dense = np.ascontiguousarray(arr.transpose(order)).transpose(np.argsort(order))
    if np.prod(arr.shape) * arr.itemsize >= max(abs(s) * (n - 1) for s, n in zip(arr.strides, arr.shape)):
        return dense  # a permuted layout (like .t()): keep its strides
    buf = np.empty(arr.shape[:-1] + (arr.shape[-1] * 2,), arr.dtype)
    out = buf[..., ::2]
    out[...] = arr
    return out


def to_ember(x, memo):
    import torch
    if id(x) in memo:
        return memo[id(x)]
    if isinstance(x, torch.Tensor):
        if x.dtype in (torch.bfloat16, torch.complex32) or x.dtype.is_floating_point and x.dtype.itemsize < 2:
            raise Unsupported(f'{x.dtype} input')
        if x.layout != torch.strided:
            raise Unsupported(f'{x.layout} input')
        xs = x.detach().resolve_conj().resolve_neg()
        if xs.storage_offset():  # a view into a larger storage: cross the whole storage (as_strided reads it)
            n = xs.untyped_storage().nbytes() // xs.element_size()
            whole = torch.empty(0, dtype=xs.dtype).set_(xs.untyped_storage(), 0, (n,), (1,))
            t = ember.from_numpy(whole.numpy().copy()).as_strided(tuple(xs.shape), xs.stride(), xs.storage_offset())
        else:
            t = ember.from_numpy(_layout_copy(xs.numpy()))
        if x.requires_grad:
            t.requires_grad_()
        memo[id(x)] = t
        return t
    if isinstance(x, torch.dtype):
        name = str(x).split('.')[-1]
        if not hasattr(ember, name):
            raise Unsupported(f'dtype {x}')
        return getattr(ember, name)
    if isinstance(x, torch.device):
        return str(x)
    if isinstance(x, torch.Size):
        return tuple(x)
    if isinstance(x, torch.memory_format):
        return getattr(ember, str(x).split('.')[-1], None)
    if isinstance(x, torch.Generator):
        raise Unsupported('generator argument')
    if isinstance(x, (list, tuple)):
        out = [to_ember(v, memo) for v in x]
        return type(x)(out) if type(x) in (list, tuple) else tuple(out)
    if isinstance(x, dict):
        return {k: to_ember(v, memo) for k, v in x.items()}
    if callable(x):  # a callable argument (distance_function=...): ember's counterpart
        return _callable_to_ember(x, memo)
    return x


def _callable_to_ember(fn, memo):
    """A torch function (by module path and name), a torch.testing helper (rebound to ember) or a parameterless torch
    layer (ember's layer of the same class name with the same public attributes) as ember's equivalent."""
    import torch
    if isinstance(fn, torch.nn.Module):
        cls = getattr(ember.nn, type(fn).__name__, None)
        if cls is None or any(True for _ in fn.parameters()) or any(True for _ in fn.buffers()):
            raise Unsupported(f'layer argument {type(fn).__name__}')
        layer = cls.__new__(cls)
        ember.nn.Module.__init__(layer)
        for k, v in vars(fn).items():
            if not k.startswith('_'):
                setattr(layer, k, to_ember(v, memo))
        return layer
    mod = getattr(fn, '__module__', None) or ''
    if mod.startswith('torch.testing'):
        return _on_ember(fn)
    if isinstance(fn, type) or not (mod == 'torch' or mod.startswith('torch.')):
        return fn
    obj = ember
    for part in (mod.split('.')[1:] if mod.startswith('torch.') else []) + [fn.__name__]:
        obj = getattr(obj, part, None)
        if obj is None:
            raise Unsupported(f'function argument {mod}.{fn.__name__}')
    return obj


def _on_ember(fn):
    """A torch.testing helper (sample wrapper, output processing) with its ``torch`` global bound to ember."""
    if type(fn).__name__ == 'function' and (fn.__module__ or '').startswith('torch.testing'):
        f = types.FunctionType(fn.__code__, {**fn.__globals__, 'torch': ember}, fn.__name__, fn.__defaults__,
                               fn.__closure__)
        f.__kwdefaults__ = fn.__kwdefaults__
        return f
    return fn


def resolve(op):
    """ember's callable for an OpInfo entry: the entry's own Python wrapper (a lambda reordering arguments, say) with
    its ``torch`` global bound to ember; else ember's function of the same name; else the Tensor method (or
    in-place method) the entry names. None when ember has none of them."""
    fn = op.op
    if type(fn).__name__ == 'function' and (fn.__module__ or '').startswith('torch.testing'):
        return _on_ember(fn)
    obj = ember
    for part in op.name.split('.'):
        obj = getattr(obj, part, None) if obj is not None else None
        if obj is None:
            break
    if obj is not None and callable(obj) and not isinstance(obj, type(ember)):
        return obj
    mname = getattr(op.method_variant, '__name__', None)
    if mname and hasattr(ember.Tensor, mname):
        return lambda self, *a, **k: getattr(self, mname)(*a, **k)
    iname = getattr(op.inplace_variant, '__name__', None)
    if iname and hasattr(ember.Tensor, iname):  # the out-of-place op as the in-place method on a copy
        return lambda self, *a, **k: getattr(self.clone(), iname)(*a, **k)
    if hasattr(ember.Tensor, op.name):
        return lambda self, *a, **k: getattr(self, op.name)(*a, **k)
    return None


# entries whose values are unspecified (uninitialised memory): only type, dtype and shape are compared
_NO_VALUES = {'empty', 'empty_like', 'new_empty', 'new_empty_strided', 'empty_strided', 'empty_permuted'}


# ---- comparison ------------------------------------------------------------------------------------------------
_TOL = {'float32': (1e-4, 1e-5), 'float64': (1e-6, 1e-7), 'grad': (1e-5, 1e-6)}
_TOL.update(complex64=_TOL['float32'], complex128=_TOL['float64'])


def compare(t, e, tol, path='output'):
    """None when ember's value ``e`` matches PyTorch's ``t``, else a short description of the difference."""
    import torch
    if isinstance(t, torch.Tensor):
        if not isinstance(e, ember.Tensor):
            return f'{path}: expected a Tensor, got {type(e).__name__}'
        if t.layout == torch.sparse_coo and not t.is_complex():
            return _compare_coo(t, e, tol, path)
        if t.layout != torch.strided or t.dtype == torch.complex32:
            return f'{path}: PyTorch returns a {t.layout} {t.dtype} tensor'
        tdt = str(t.dtype).split('.')[-1]
        if tdt != e.dtype.name:
            return f'{path}: dtype {e.dtype.name} != {tdt}'
        if tuple(t.shape) != tuple(e.shape):
            return f'{path}: shape {tuple(e.shape)} != {tuple(t.shape)}'
        if tol is None:
            return None
        if t.dtype == torch.bfloat16:  # NumPy has no bfloat16 of its own: compare the (exactly widened) float32 values
            t, e = t.float(), e.float()
        a, b = t.detach().resolve_conj().resolve_neg().numpy(force=True), e.detach().numpy(force=True)
        if a.dtype.kind in 'biu' and not np.array_equal(a, b) or a.dtype.kind in 'fc' and not np.allclose(
                b, a, rtol=tol[0], atol=tol[1], equal_nan=True):
            with np.errstate(invalid='ignore'):
                ac, bc = (a, b) if a.dtype.kind == 'c' else (a.astype(float), b.astype(float))
                err = np.nanmax(np.abs(ac - bc)) if a.size else 0
            return f'{path}: values differ (max abs diff {err:.3g})'
        return None
    if isinstance(t, (tuple, list)):
        if not isinstance(e, (tuple, list)) or len(e) != len(t):
            return f'{path}: expected a sequence of {len(t)}, got {type(e).__name__}'
        for i, (a, b) in enumerate(zip(t, e)):
            r = compare(a, b, tol, f'{path}[{i}]')
            if r:
                return r
        return None
    if isinstance(t, (bool, int, float)) and not isinstance(e, ember.Tensor):
        if isinstance(e, (bool, int, float)) and (t == e or math.isclose(t, e, rel_tol=tol[0], abs_tol=tol[1])
                                                  or (t != t and e != e)):
            return None
        return f'{path}: {e!r} != {t!r}'
    if t is None and e is None:
        return None
    if type(t).__name__ == 'Size' and isinstance(e, tuple):
        return None if tuple(t) == tuple(e) else f'{path}: {tuple(e)} != {tuple(t)}'
    return None if t == e else f'{path}: {e!r} != {t!r}'


def _compare_coo(t, e, tol, path):
    """A sparse COO result: same layout, shape, dtype, sparse/dense dims, then the coalesced indices and values."""
    if str(getattr(e, 'layout', None)) != 'torch.sparse_coo':
        return f'{path}: PyTorch returns a torch.sparse_coo tensor, ember a {getattr(e, "layout", None)} one'
    if tuple(t.shape) != tuple(e.shape):
        return f'{path}: shape {tuple(e.shape)} != {tuple(t.shape)}'
    if (t.sparse_dim(), t.dense_dim()) != (e.sparse_dim(), e.dense_dim()):
        return f'{path}: sparse/dense dims {(e.sparse_dim(), e.dense_dim())} != {(t.sparse_dim(), t.dense_dim())}'
    tc, ec = t.detach().coalesce(), e.detach().coalesce()
    return (compare(tc.indices(), ec.indices(), tol and (0, 0), path + '.indices()')
            or compare(tc.values(), ec.values(), tol, path + '.values()'))


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flat(item)]
    if isinstance(x, dict):
        return [v for item in x.values() for v in _flat(item)]
    return [x]


def _seed_of(op):
    """The seed an entry's calls run under: PyTorch wraps random ops in ``wrapper_set_seed`` (seed 42), else 0."""
    code = getattr(op.op, '__code__', None)
    return 42 if code is not None and 'wrapper_set_seed' in code.co_names else 0


def _call(fn, seed_mod, args, kwargs, wrapper=None, seed=0):
    seed_mod.manual_seed(seed)
    if wrapper is not None:
        return wrapper(fn, *args, **kwargs)
    return fn(*args, **kwargs)


# ---- one entry -------------------------------------------------------------------------------------------------
def _dtypes(op):
    import torch
    sup = op.supported_dtypes('cpu')
    floats = [d for d in (torch.float32, torch.float64) if d in sup]
    if floats:
        return floats
    complexes = [d for d in (torch.complex64, torch.complex128) if d in sup]
    if complexes:  # complex-only ops (view_as_real, imag): their complex samples
        return complexes
    return [d for d in (torch.int64, torch.bool) if d in sup][:1]


def _forward(op, fn, dtype):
    import torch
    n = 0
    for s in itertools.islice(op.sample_inputs('cpu', dtype, requires_grad=False), MAX_SAMPLES):
        try:
            args = to_ember([s.input, *s.args], {})
            kwargs = to_ember(s.kwargs, {})
        except Unsupported:
            continue
        try:
            expected = _call(op, torch, [s.input, *s.args], s.kwargs)
        except Exception:
            continue  # a sample PyTorch itself refuses (none known) is not ember's business
        try:
            got = _call(fn, ember, args, kwargs, seed=_seed_of(op))
        except Exception as e:
            return f'raises {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ""}'
        tol = _TOL[str(dtype).split('.')[-1]] if dtype.is_floating_point or dtype.is_complex else (0, 0)
        r = compare(expected, got, None if op.name in _NO_VALUES else tol)
        if r and r.split(': ')[-1].startswith('values differ'):
            # outputs defined up to sign/phase (eigenvectors, singular vectors): compare what the entry's own
            # output_process_fn_grad keeps, which PyTorch's tests also do
            try:
                r = compare(s.output_process_fn_grad(expected), _on_ember(s.output_process_fn_grad)(got), tol)
            except Exception:
                pass
        if r:
            return f'{str(dtype)[6:]} sample {n}: {r}'
        n += 1
    return None


def _grad_dtype(op):
    """float64, or complex128 for complex-only ops; None when the entry has no gradient to check."""
    import torch
    if not op.supports_autograd:
        return None
    sup = op.supported_dtypes('cpu')
    return torch.float64 if torch.float64 in sup else torch.complex128 if torch.complex128 in sup else None


def _projection(lib, outs, ws):
    """The real loss sum(w * out) over the outputs; a complex output is weighted on its real and imaginary parts."""
    loss = 0
    for o, (w1, w2) in zip(outs, ws):
        if o.is_complex():
            loss = loss + (o.real * lib.from_numpy(w1.copy())).sum() + (o.imag * lib.from_numpy(w2.copy())).sum()
        else:
            loss = loss + (o * lib.from_numpy(w1.copy())).sum()
    return loss


def _backward(op, fn):
    import torch
    n = 0
    for s in itertools.islice(op.sample_inputs('cpu', _grad_dtype(op), requires_grad=True), MAX_SAMPLES):
        t_in = [x for x in _flat([s.input, s.args, s.kwargs]) if isinstance(x, torch.Tensor) and x.requires_grad]
        if not t_in:
            continue
        memo = {}
        try:
            args = to_ember([s.input, *s.args], memo)
            kwargs = to_ember(s.kwargs, memo)
        except Unsupported:
            continue
        e_in = [memo[id(x)] for x in t_in]
        try:
            t_out = s.output_process_fn_grad(_call(op, torch, [s.input, *s.args], s.kwargs, op.gradcheck_wrapper))
        except Exception:
            continue
        t_outs = [o for o in _flat(t_out) if isinstance(o, torch.Tensor) and o.requires_grad]
        if not t_outs:
            continue
        try:
            e_out = _on_ember(s.output_process_fn_grad)(_call(fn, ember, args, kwargs, _on_ember(op.gradcheck_wrapper),
                                                                   seed=_seed_of(op)))
            e_outs = [o for o in _flat(e_out) if isinstance(o, ember.Tensor) and o.requires_grad]
            if len(e_outs) != len(t_outs):
                return f'grad sample {n}: {len(e_outs)} outputs require grad, PyTorch has {len(t_outs)}'
            rng = np.random.default_rng(0)
            ws = [(rng.standard_normal(tuple(o.shape)), rng.standard_normal(tuple(o.shape))) for o in t_outs]
            t_loss, e_loss = _projection(torch, t_outs, ws), _projection(ember, e_outs, ws)
            t_g = torch.autograd.grad(t_loss, t_in, allow_unused=True)
            e_g = ember.autograd.grad(e_loss, e_in, allow_unused=True)
        except Exception as e:
            return f'grad raises {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ""}'
        for i, (a, b) in enumerate(zip(t_g, e_g)):
            a = torch.zeros_like(t_in[i]) if a is None else a
            b = ember.zeros_like(e_in[i]) if b is None else b
            r = compare(a, b, _TOL['grad'], f'grad of input {i}')
            if r:
                return f'grad sample {n}: {r}'
        n += 1
    return None


def check(op):
    """None when the entry passes, else the first failure's description (prefixed with its category)."""
    import torch
    fn = resolve(op)
    if fn is None:
        return 'missing: no ember function or Tensor method'
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for dt in _dtypes(op):
            r = _forward(op, fn, dt)
            if r and ('must be Tensor, not Tensor' in r or 'invalid combination of arguments' in r or
                      "doesn't apply to a 'Tensor' object" in r or "module 'ember' has no attribute" in r or
                      "'Tensor' object has no attribute" in r):
                return 'missing: the entry calls a PyTorch function ember lacks: ' + r
            if r:
                return ('raises: ' if r.startswith('raises') else 'values: ') + r
        if _grad_dtype(op) is not None:
            r = _backward(op, fn)
            if r:
                return ('raises: ' if 'raises' in r else 'grad: ') + r
    return None


# entries that draw random numbers: they pass once ember's generator reproduces PyTorch's streams
RANDOM = {'cauchy', 'exponential', 'geometric', 'log_normal', 'normal', 'uniform', 'randn', 'randn_like', 'rand_like',
          'randint', 'randint_like', 'multinomial', 'bernoulli', 'nn.functional.rrelu', 'nn.functional.dropout',
          'nn.functional.dropout2d', 'nn.functional.dropout3d', 'nn.functional.alpha_dropout',
          'nn.functional.feature_alpha_dropout', 'nn.functional.fractional_max_pool2d',
          'nn.functional.fractional_max_pool3d', 'svd_lowrank', 'pca_lowrank',
          'nn.functional.multi_head_attention_forward', 'nn.functional.scaled_dot_product_attention'}
_KNOWN_HEADER = '''"""OpInfo entries ember fails today, {entry: 'category: first failure'}, a list that only shrinks.

Categories: missing (no ember function/method, or the entry calls a PyTorch function ember lacks), raises (ember
raises on a valid sample), values (forward result differs), grad (gradients differ), random (random-number entries:
they pass once ember's generator reproduces PyTorch's streams). Regenerate with `python tests/_opinfo.py --known`.
"""
KNOWN_FAILING = {
'''


def run_all(names=None):
    res = {}
    for op in public_entries():
        name = entry_name(op)
        if names and name not in names and op.name not in names:
            continue
        res[name] = check(op)
    return res


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    results = run_all(args or None)
    for k, v in results.items():
        if v:
            print(f'{k}: {v}')
    passed = sum(v is None for v in results.values())
    print(f'{passed} of {len(results)} OpInfo entries pass ({100 * passed / max(len(results), 1):.1f}%)')
    if '--write' in sys.argv and not args:
        path = os.path.join(os.path.dirname(__file__), '..', 'docs', 'opinfo.json')
        with open(path, 'w') as f:
            json.dump({'torch': __import__('torch').__version__, 'entries': len(results), 'passed': passed,
                       'max_samples_per_pass': MAX_SAMPLES}, f, indent=1)
            f.write('\n')
    if '--known' in sys.argv and not args:  # regenerate tests/_opinfo_known.py from this run
        with open(os.path.join(os.path.dirname(__file__), '_opinfo_known.py'), 'w') as f:
            f.write(_KNOWN_HEADER)
            for k, v in results.items():
                if v:
                    cat = 'random' if k.split('/')[0] in RANDOM else v.split(':')[0]
                    f.write(f'    {k!r}: {(cat + ": " + v.split(": ", 1)[1])[:150]!r},\n')
            f.write('}\n')
