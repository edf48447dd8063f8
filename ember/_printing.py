"""Tensor repr in PyTorch's style: tensor([[1., 2.]], requires_grad=True), with set_printoptions."""
import builtins
from collections import namedtuple

import numpy as _np

from ._dtype import get_default_dtype


class _Options:
    precision = 4
    threshold = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode = None


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    if profile == 'default':
        _Options.precision, _Options.threshold, _Options.edgeitems, _Options.linewidth = 4, 1000, 3, 80
    elif profile == 'short':
        _Options.precision, _Options.threshold, _Options.edgeitems, _Options.linewidth = 2, 1000, 2, 80
    elif profile == 'full':
        _Options.precision, _Options.threshold, _Options.edgeitems, _Options.linewidth = 4, float('inf'), 3, 80
    for name, v in (('precision', precision), ('threshold', threshold), ('edgeitems', edgeitems),
                    ('linewidth', linewidth)):
        if v is not None:
            setattr(_Options, name, v)
    _Options.sci_mode = sci_mode


def _float_formatter(arr):
    finite = arr[_np.isfinite(arr)] if arr.size else arr
    p = _Options.precision
    if finite.size == 0:
        return lambda x: f'{x}'.replace('inf', 'inf')
    amax, nz = _np.abs(finite).max(), _np.abs(finite[finite != 0])
    amin = nz.min() if nz.size else 0
    integral = _np.all(finite == _np.round(finite))
    sci = _Options.sci_mode if _Options.sci_mode is not None else builtins.bool(
        amax > 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1000.0))
    if sci:
        fmt = lambda x: f'{x:.{p}e}'  # noqa: E731
    elif integral:
        fmt = lambda x: f'{x:.0f}.'  # noqa: E731
    else:
        fmt = lambda x: f'{x:.{p}f}'  # noqa: E731
    # (PyTorch judges the width on the nonzero finite values: a -0. is not padded for)
    width = max((len(fmt(x)) for x in finite[finite != 0].ravel()[:10000]), default=1)
    return lambda x: (fmt(x) if _np.isfinite(x) else str(x)).rjust(width)


def _summarized(arr):
    """The elements a summarized print shows (edgeitems at each end of every dim): what widths are judged on."""
    e = _Options.edgeitems
    for axis in range(arr.ndim):
        if arr.shape[axis] > 2 * e:
            arr = _np.concatenate([_np.take(arr, range(e), axis), _np.take(arr, range(-e, 0), axis)], axis)
    return arr


def _complex_body(arr, summarize):
    """A complex array's text as PyTorch lays it out: real and imaginary parts each with their own formatter
    (judged on the shown elements), ``re+imj`` per element, a fixed number of elements per line."""
    shown = _summarized(arr) if summarize else arr
    fr = _float_formatter(shown.real.astype(_np.float64))
    fi = _float_formatter(shown.imag.astype(_np.float64))
    wr, wi = len(fr(0.0)), len(fi(0.0))
    e = _Options.edgeitems

    def val(z):
        im = (fi(z.imag) + 'j').lstrip()
        return fr(z.real) + (im if im[0] in '+-' else '+' + im)

    def rows(a, indent):
        if a.ndim == 0:
            return val(a.item())
        n = a.shape[0]
        idx = list(range(e)) + [None] + list(range(n - e, n)) if summarize and n > 2 * e else list(range(n))
        if a.ndim == 1:
            per_line = max(1, int((_Options.linewidth - indent) // (wr + wi + 3)))
            data = [' ...' if i is None else val(a[i].item()) for i in idx] if e or not summarize else ['...']
            lines = [', '.join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
            return '[' + (',\n' + ' ' * (indent + 1)).join(lines) + ']'
        parts = ['...' if i is None else rows(a[i], indent + 1) for i in idx]
        return '[' + (',' + '\n' * (a.ndim - 1) + ' ' * (indent + 1)).join(parts) + ']'
    return rows(arr, len('tensor('))


def format_tensor(t):
    arr = t._data if t._device.type == 'cpu' else t._data.get()
    if arr.dtype.kind == 'V':  # bfloat16 (ml_dtypes): printed from its exact float32 values
        arr = arr.astype(_np.float32)
    prefix = 'tensor('
    shown = _summarized(arr) if arr.size > _Options.threshold else arr
    if arr.dtype.kind == 'f':
        formatter = {'float_kind': _float_formatter(shown.astype(_np.float64))}
    elif arr.dtype.kind == 'b':
        width = 5 if (~shown).any() else 4  # PyTorch pads True to False's width when both could appear
        formatter = {'bool': lambda x: ('True' if x else 'False').rjust(width)}
    else:
        formatter = None
    if arr.size == 0:
        body = '[]'
    elif arr.dtype.kind == 'c':
        body = _complex_body(arr, arr.size > _Options.threshold)
    elif arr.ndim == 0:
        body = formatter['float_kind'](arr.item()).strip() if formatter and 'float_kind' in formatter else (
            ('True' if arr.item() else 'False') if arr.dtype.kind == 'b' else str(arr.item()))
    else:
        body = _np.array2string(arr, separator=', ', prefix=prefix, formatter=formatter,
                                threshold=_Options.threshold if _Options.threshold != float('inf') else _np.inf,
                                edgeitems=_Options.edgeitems, max_line_width=_Options.linewidth)
        body = body.replace(', ...,', ',  ...,')  # PyTorch's in-row ellipsis is ' ...'
    extras = []
    if t._device.type != 'cpu':
        extras.append(f"device='{t._device}'")
    default = {'f': get_default_dtype().np, 'i': _np.dtype(_np.int64), 'b': _np.dtype(_np.bool_),
               'c': get_default_dtype().to_complex().np}
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f'size={tuple(arr.shape)}')
    if default.get(arr.dtype.kind) != t._data.dtype or (arr.size == 0 and arr.dtype.kind != 'f'):
        extras.append(f'dtype={t.dtype!r}')
    if t.grad_fn is not None:
        extras.append(f'grad_fn=<{t.grad_fn._name}>')
    elif t._rg:
        extras.append('requires_grad=True')
    out = prefix + body
    last = len(out) - out.rfind('\n') + 1
    for e in extras:  # PyTorch moves a suffix that would overflow the line width to a line of its own
        if last + len(e) + 2 > _Options.linewidth:
            out, last = out + ',\n' + ' ' * len(prefix) + e, len(prefix) + len(e)
        else:
            out, last = out + ', ' + e, last + len(e) + 2
    return out + ')'


def return_type(name, fields):
    """A named tuple printed as PyTorch prints its ``torch.return_types`` results (max, sort, topk, ...)."""
    def __repr__(self):
        body = ',\n'.join(f'{f}={v!r}' for f, v in zip(self._fields, self))
        return f'torch.return_types.{name}(\n{body})'
    return type(name, (namedtuple(name, fields),), {'__slots__': (), '__repr__': __repr__})


def typename(obj):
    """PyTorch's ``torch.typename``: 'torch.FloatTensor' for a tensor, the qualified class name otherwise."""
    from ._tensor import Tensor
    from ._dtype import _LEGACY_NAMES
    if isinstance(obj, Tensor):
        return 'torch.' + _LEGACY_NAMES.get(obj.dtype.name, 'Tensor')
    t = type(obj)
    return t.__name__ if t.__module__ == 'builtins' else f'{t.__module__}.{t.__qualname__}'
