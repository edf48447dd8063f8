"""ember.testing: assert_close (PyTorch's default tolerances and messages), assert_allclose and make_tensor."""
import builtins
import collections.abc
import math

import numpy as np

__all__ = ['assert_close', 'assert_allclose', 'make_tensor']

# (rtol, atol) by dtype name, as PyTorch: integers and bool compare exactly
_TOLERANCES = {'float16': (1e-3, 1e-5), 'bfloat16': (1.6e-2, 1e-5), 'float32': (1.3e-6, 1e-5),
               'float64': (1e-7, 1e-7), 'complex64': (1.3e-6, 1e-5), 'complex128': (1e-7, 1e-7)}


class _Mismatch(Exception):
    def __init__(self, message, type_=AssertionError):
        super().__init__(message)
        self.message, self.type = message, type_


def _default_tols(*dtype_names):
    pairs = [_TOLERANCES.get(n, (0.0, 0.0)) for n in dtype_names]
    return builtins.max(p[0] for p in pairs), builtins.max(p[1] for p in pairs)


def _is_tensor_like(x):
    from ._tensor import Tensor
    return isinstance(x, (Tensor, np.ndarray))


def _is_number(x):
    return isinstance(x, (builtins.bool, builtins.int, builtins.float, complex, np.number, np.bool_))


def _fmt(v):
    return repr(v) if isinstance(v, builtins.float) else str(v)


def _scalar_message(actual, expected, rtol, atol, equal):
    kind = 'equal' if equal else 'close'
    abs_diff = abs(actual - expected)
    rel_diff = abs_diff / abs(expected) if expected != 0 else (math.inf if abs_diff else 0.0)
    if isinstance(actual, builtins.bool) or isinstance(expected, builtins.bool):
        abs_diff, rel_diff = builtins.int(abs_diff), rel_diff
    msg = f'Scalars are not {kind}!\n\nExpected {_fmt(expected)} but got {_fmt(actual)}.\n'
    if equal:
        return msg + f'Absolute difference: {_fmt(abs_diff)}\nRelative difference: {_fmt(rel_diff)}'
    return (msg + f'Absolute difference: {_fmt(abs_diff)} (up to {atol} allowed)\n'
                  f'Relative difference: {_fmt(rel_diff)} (up to {rtol} allowed)')


def _close_mask(a, e, rtol, atol, equal_nan):
    if a.dtype.kind not in 'fc':
        return a == e
    with np.errstate(invalid='ignore', over='ignore'):
        close = (a == e) | (np.abs(a - e) <= atol + rtol * np.abs(e))
    close &= np.isfinite(a) | (a == e)  # inf only matches the same inf
    if equal_nan:
        close |= np.isnan(a) & np.isnan(e)
    return close


def _argmax_nan_first(d):
    nan = np.isnan(d)
    if nan.any():
        return builtins.int(np.argmax(nan))
    return builtins.int(np.argmax(d))


def _tensor_message(a, e, matches, rtol, atol, equal):
    kind = 'equal' if equal else 'close'
    total = matches.size
    bad = total - builtins.int(matches.sum())
    msg = f'Tensor-likes are not {kind}!\n\nMismatched elements: {bad} / {total} ({bad / total:.1%})\n'
    af, ef, mf = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if af.dtype.kind not in 'fc':
        af, ef = af.astype(np.int64), ef.astype(np.int64)
    with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
        abs_diff = np.abs(af - ef)
        abs_diff[mf] = 0
        rel_diff = abs_diff / np.abs(ef)
        rel_diff[mf] = 0
    i, j = _argmax_nan_first(abs_diff), _argmax_nan_first(rel_diff.astype(np.float64))

    def where(k):
        return str(tuple(builtins.int(x) for x in np.unravel_index(k, a.shape))) if a.ndim else '()'

    def num(v):
        v = v.item()
        return repr(builtins.float(v)) if isinstance(v, builtins.float) else str(v)
    if equal:
        return (msg + f'Greatest absolute difference: {num(abs_diff[i])} at index {where(i)}\n'
                      f'Greatest relative difference: {num(rel_diff[j])} at index {where(j)}')
    return (msg + f'Greatest absolute difference: {num(abs_diff[i])} at index {where(i)} (up to {atol} allowed)\n'
                  f'Greatest relative difference: {num(rel_diff[j])} at index {where(j)} (up to {rtol} allowed)')


def _host(t):
    from ._tensor import Tensor
    if isinstance(t, Tensor):
        if t.is_sparse:
            t = t.to_dense()
        return t.detach().cpu().numpy()
    return t


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, check_layout):
    from ._tensor import Tensor
    from ._dtype import from_np
    if isinstance(actual, Tensor) != isinstance(expected, Tensor):
        raise _Mismatch(f'No comparison pair was able to handle inputs of type {type(actual)} and '
                        f'{type(expected)}.', TypeError)
    if actual.shape != expected.shape:
        raise _Mismatch(f"The values for attribute 'shape' do not match: {actual.shape} != {expected.shape}.")
    if isinstance(actual, Tensor):
        if check_device and actual.device != expected.device:
            raise _Mismatch(f"The values for attribute 'device' do not match: {actual.device} != "
                            f"{expected.device}.")
        if check_layout and actual.layout != expected.layout:
            raise _Mismatch(f"The values for attribute 'layout' do not match: ember.{actual.layout} != "
                            f"ember.{expected.layout}.")
        da, de = actual.dtype, expected.dtype
    else:
        da, de = actual.dtype, expected.dtype
    if check_dtype and da != de:
        shown = (da, de) if isinstance(actual, Tensor) else (from_np(da), from_np(de))
        raise _Mismatch(f"The values for attribute 'dtype' do not match: {shown[0]} != {shown[1]}.")
    a, e = np.asarray(_host(actual)), np.asarray(_host(expected))
    if rtol is None:
        rtol, atol = _default_tols(a.dtype.name, e.dtype.name)
    if a.dtype != e.dtype:
        common = np.promote_types(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    matches = _close_mask(a, e, rtol, atol, equal_nan)
    if matches.all():
        return
    equal = rtol == 0 and atol == 0
    if a.ndim == 0:
        raise _Mismatch(_scalar_message(a.item(), e.item(), rtol, atol, equal))
    raise _Mismatch(_tensor_message(a, e, matches, rtol, atol, equal))


def _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype):
    if check_dtype and type(actual) is not type(expected) and not (
            isinstance(actual, builtins.float) and isinstance(expected, builtins.float)):
        if not (isinstance(actual, builtins.int) and isinstance(expected, builtins.int)):
            raise _Mismatch(f"The values for attribute 'dtype' do not match: {type(actual).__name__} != "
                            f"{type(expected).__name__}.")
    if rtol is None:
        floating = isinstance(actual, (builtins.float, complex)) or isinstance(expected, (builtins.float, complex))
        rtol, atol = (1e-7, 1e-7) if floating else (0.0, 0.0)
    if actual == expected:
        return
    if isinstance(actual, builtins.float) and isinstance(expected, builtins.float):
        if math.isnan(actual) and math.isnan(expected) and equal_nan:
            return
        if math.isfinite(actual) and math.isfinite(expected) and abs(actual - expected) <= atol + rtol * abs(
                expected):
            return
    elif abs(actual - expected) <= atol + rtol * abs(expected):
        return
    raise _Mismatch(_scalar_message(actual, expected, rtol, atol, rtol == 0 and atol == 0))


def _compare(actual, expected, path, **kw):
    if _is_tensor_like(actual) or _is_tensor_like(expected):
        if not (_is_tensor_like(actual) and _is_tensor_like(expected)):
            raise _Mismatch(f'No comparison pair was able to handle inputs of type {type(actual)} and '
                            f'{type(expected)}.', TypeError)
        return _compare_tensors(actual, expected, kw['rtol'], kw['atol'], kw['equal_nan'], kw['check_device'],
                                kw['check_dtype'], kw['check_layout'])
    if _is_number(actual) and _is_number(expected):
        if isinstance(actual, np.generic):
            actual = actual.item()
        if isinstance(expected, np.generic):
            expected = expected.item()
        return _compare_numbers(actual, expected, kw['rtol'], kw['atol'], kw['equal_nan'], kw['check_dtype'])
    seq = (collections.abc.Sequence,)
    if isinstance(actual, seq) and isinstance(expected, seq) and not isinstance(actual, str) \
            and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _Mismatch(f'The length of the sequences mismatch: {len(actual)} != {len(expected)}')
        for i, (a, e) in enumerate(zip(actual, expected)):
            _item(a, e, path + [i], kw)
        return
    if isinstance(actual, collections.abc.Mapping) and isinstance(expected, collections.abc.Mapping):
        ka, ke = set(actual), set(expected)
        if ka != ke:
            missing, extra = sorted(map(repr, ke - ka)), sorted(map(repr, ka - ke))
            raise _Mismatch(f'The keys of the mappings do not match:\nMissing keys in the actual mapping: '
                            f'{", ".join(missing)}\nAdditional keys in the actual mapping: {", ".join(extra)}')
        for k in actual:
            _item(actual[k], expected[k], path + [k], kw)
        return
    if actual is None and expected is None:
        return
    if type(actual) is type(expected) and not _is_number(actual) and actual == expected:
        return
    raise _Mismatch(f'No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.',
                    TypeError)


def _item(a, e, path, kw):
    try:
        _compare(a, e, path, **kw)
    except _Mismatch as m:
        if m.type is AssertionError and not getattr(m, 'located', False):
            where = ''.join(f'[{p!r}]' for p in path)
            m.message += f'\n\nThe failure occurred for item {where}'
            m.located = True
        raise


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Raise AssertionError unless ``actual`` and ``expected`` are close: |a - e| <= atol + rtol * |e| elementwise,
    with PyTorch's default tolerances by dtype (float32: rtol 1.3e-6, atol 1e-5; float64: 1e-7, 1e-7; float16:
    1e-3, 1e-5; integers and bool: exact). Tensors, NumPy arrays, numbers, sequences and mappings of them."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    kw = dict(rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=check_device, check_dtype=check_dtype,
              check_layout=check_layout)
    try:
        _compare(actual, expected, [], **kw)
    except _Mismatch as m:
        if m.type is not AssertionError:
            raise m.type(m.message) from None
        if msg is None:
            text = m.message
        elif callable(msg):
            text = msg(m.message)
        else:
            text = msg
        raise AssertionError(text) from None


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=''):
    """The older spelling: values converted to tensors of the expected's kind, dtypes not checked."""
    from ._creation import as_tensor
    from ._tensor import Tensor
    if not isinstance(actual, Tensor):
        actual = as_tensor(actual)
    if not isinstance(expected, Tensor):
        expected = as_tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        rtol, atol = _default_tols(actual.dtype.name, expected.dtype.name)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=True,
                 check_dtype=False, msg=msg or None)


def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad=False, noncontiguous=False,
                exclude_zero=False, memory_format=None):
    """A random tensor for tests: uniform in [low, high) (defaults by dtype: floats in [-9, 9], ints in [-9, 10))."""
    from ._creation import tensor
    from ._dtype import to_dtype
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    dt = to_dtype(dtype)
    rng = np.random.default_rng()
    if dt.name == 'bool':
        arr = rng.integers(0, 2, size=shape).astype(bool)
    elif dt.is_floating_point:
        lo = -9.0 if low is None else builtins.float(low)
        hi = 9.0 if high is None else builtins.float(high)
        arr = rng.uniform(lo, hi, size=shape)
    else:
        info = np.iinfo(dt.np)
        lo = builtins.max(-9 if low is None else builtins.int(math.ceil(low)), info.min)
        hi = builtins.min(10 if high is None else builtins.int(math.ceil(high)), info.max)
        if dt.name == 'uint8' and low is None:
            lo = 0
        arr = rng.integers(lo, hi, size=shape)
    arr = np.asarray(arr).astype(dt.np)
    if exclude_zero:
        fill = np.finfo(dt.np).tiny if dt.is_floating_point else 1
        arr[arr == 0] = fill
    return tensor(arr, dtype=dt, device=device, requires_grad=requires_grad and dt.is_floating_point)
