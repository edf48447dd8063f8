"""What every op shares: wrapping arrays as tensors, recording graph nodes, operand coercion, dim checks."""
import builtins
import os
import traceback

from .._dtype import _FROM_NP, result_type, get_default_dtype, int64, bool_, complex64 as _c64, SCALAR_NAMES
from ..autograd.grad_mode import _State
from ..autograd.graph import Node, make_saved_output
from .._tensor_core import TensorCore as Tensor, _wrap  # (isinstance only: every ember.Tensor is one)

_SCALARS = (builtins.int, builtins.float, builtins.bool, builtins.complex)
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # .../ember/


def record(data, device, inputs, name, fns, saved=(), holds=False):
    """Wrap ``data`` as the op's result and, when grad is on and an input requires it, attach a Node.

    ``fns[i]`` maps the output's gradient to input i's; it is only called for inputs that need one.
    ``saved``: input tensors the fns read (an in-place edit of one then fails the backward); ``holds=True``: the fns
    keep other arrays or tensors (a mask, indices, a factorization), so backward frees them and refuses to run twice.
    """
    out = _wrap(data, device)
    if not _State.grad_enabled:
        return out
    if out._data.dtype.kind == 'c' and fns is not None:
        fns = conj_fns(fns, inputs)
    edges = None
    for i, t in enumerate(inputs):
        if t is not None and t.requires_grad:
            if edges is None:
                edges = [None] * len(inputs)
            edges[i] = (t.grad_fn, t._out) if t.grad_fn is not None else (t, 0)
    if edges is not None:
        if out._data.dtype.kind in 'fV':  # what the requires_grad setter checks (it raises for other dtypes)
            out._rg = True
        else:
            out.requires_grad = True
        node = out.grad_fn = Node(name, tuple(edges), fns, saved, holds)
        if _State.anomaly:
            _anomaly_forward(node, out, inputs)
    return out


def record_c(data, device, inputs, name, fns, saved=(), holds=False):
    """record for ops whose backward already follows PyTorch's complex convention (conj, abs, view_as_real...)."""
    out = record(data, device, inputs, name, None, saved, holds)
    if out.grad_fn is not None:
        out.grad_fn.fns = fns
    return out


def conj_fns(fns, inputs):
    """Backward fns for a complex result written as real formulas (``g * f'(z)``): PyTorch's gradient of a
    holomorphic op is ``g * conj(f'(z))`` = conj(fn(conj(g))); a real input keeps the real part."""
    def wrap(fn, real):
        if fn is None:
            return None

        def conj_fn(g):  # (conj_physical: a gradient carries no conj flag)
            r = fn(g.conj_physical())
            if r is None:
                return None
            if r._data.dtype.kind != 'c':
                return r
            return r.real if real else r.conj_physical()
        return conj_fn
    return tuple(wrap(fn, t is not None and t._data.dtype.kind != 'c') for fn, t in zip(fns, inputs)) + \
        tuple(fns[len(inputs):])


def sample_record(data, device, inputs, name):
    """A random sample whose parameters require grad: PyTorch records it, with zero gradients for them (measured)."""
    return record(data, device, tuple(inputs), name,
                  tuple((lambda g, t=t: _wrap(g._device.xp.zeros(t.shape, dtype=t._data.dtype), g._device))
                        for t in inputs))


def record_with_output(data, device, inputs, name, make_fns, saved=(), holds=False):
    """Like record, for ops whose backward reuses their own output: ``make_fns(out_getter)`` builds the fns."""
    out = record(data, device, inputs, name, None, saved, holds)
    if out.grad_fn is not None:
        fns = make_fns(make_saved_output(out.grad_fn, data, device))
        out.grad_fn.fns = conj_fns(fns, inputs) if out._data.dtype.kind == 'c' else fns
        out._vc = out.grad_fn.out_vc = [0]  # an in-place edit of the output must fail its backward, not corrupt it
    return out


def record_joint(datas, device, inputs, name, backward, protect_first=False):
    """Wrap ``datas`` as an op's outputs (one or several) whose backward computes every input's gradient at once
    (a fused layer: the recurrences of ops/rnn.py, attention); when grad is on and an input requires it, attach one
    node for all the outputs.

    ``backward(grads)`` gets one gradient (Tensor or None) per output and returns one (or None) per input.
    ``protect_first``: the backward reads output 0's array, so an in-place edit of it must fail the backward.
    """
    outs = tuple(_wrap(d, device) for d in datas)
    if not _State.grad_enabled or not any(t is not None and t._rg for t in inputs):
        return outs
    edges = tuple(((t.grad_fn, t._out) if t.grad_fn is not None else (t, 0)) if t is not None and t._rg else None
                  for t in inputs)
    node = Node(name, edges, backward, tuple(t for t in inputs if t is not None))
    node.n_out = len(outs)
    node.metadata = {'zeros': lambda i: None}  # an output that got no gradient reaches backward as None
    for i, o in enumerate(outs):
        o._rg, o.grad_fn, o._out = True, node, i
    if protect_first:
        outs[0]._vc = node.out_vc = [0]
    return outs


def _anomaly_forward(node, out, inputs):
    stack = traceback.extract_stack()[:-3]
    user = [f for f in stack if not os.path.abspath(f.filename).startswith(_PKG_DIR)]
    frame = user[-1] if user else stack[-1]
    node.trace = f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n    {frame.line}'
    xp = out._device.xp
    if _State.anomaly_check_nan and out._data.dtype.kind == 'f' and not xp.isfinite(out._data).all():
        ins = [t for t in inputs if isinstance(t, Tensor)]
        if all(not t.is_floating_point() or xp.isfinite(t._data).all() for t in ins):
            desc = ', '.join(f'shape {tuple(t.shape)} {t.dtype.name}' for t in ins)
            raise RuntimeError(f"Function '{node._name}' produced nan or inf values in its forward output (shape "
                               f"{tuple(out.shape)} {out.dtype.name}) from finite inputs ({desc}); it was created "
                               f"at:\n{node.trace}")


def unbroadcast(g, shape):
    """Sum a broadcast gradient back to an operand's shape."""
    if g._data.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
    if axes:
        g = g.sum(axes, keepdim=True)
    if extra:
        g = g.reshape(shape)
    return g


def broadcast_error(sa, sb):
    """PyTorch's RuntimeError for two shapes that do not broadcast, naming the first clashing dim from the right."""
    n = builtins.max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + tuple(sa), (1,) * (n - len(sb)) + tuple(sb)
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            return RuntimeError(f'The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) at '
                                f'non-singleton dimension {i}')
    return RuntimeError(f'shapes {list(sa)} and {list(sb)} cannot be broadcast together')


def broadcasting(fn):
    """Wrap an op whose operands broadcast: NumPy's ValueError becomes PyTorch's RuntimeError naming the shapes.

    Only the failing call pays for the check (a try block costs nothing when no exception is raised).
    """
    def op(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            if 'broadcast' not in str(e):
                raise
            shapes = [tuple(x.shape) for x in args if isinstance(x, Tensor)]
            for i in range(len(shapes)):
                for j in range(i + 1, len(shapes)):
                    err = broadcast_error(shapes[i], shapes[j])
                    if not str(err).startswith('shapes'):
                        raise err from None
            raise RuntimeError(f'{fn.__name__}(): shapes {shapes} cannot be broadcast together') from None
    op.__name__, op.__qualname__, op.__doc__, op.__wrapped__ = fn.__name__, fn.__qualname__, fn.__doc__, fn
    return op


def same_device(a, b, op):
    if a._device is not b._device:
        raise RuntimeError(f'Expected all tensors to be on the same device, but found at least two devices, '
                           f'{a._device} and {b._device}! (when checking arguments for {op})')


def _priority(t):
    return 2 if t._data.ndim else 1


def coerce_pair(a, b, op):
    """Make ``a`` and ``b`` tensors of PyTorch's promoted dtype (Python scalars stay scalars when they fit)."""
    if isinstance(b, Tensor):
        if isinstance(a, Tensor):
            same_device(a, b, op)
            if a._data.dtype is b._data.dtype or a._data.dtype == b._data.dtype:
                return a, b
            dt = result_type(_FROM_NP[a._data.dtype], _priority(a), _FROM_NP[b._data.dtype], _priority(b))
            return a.to(dt), b.to(dt)
        b, a = coerce_pair(b, a, op)
        return a, b
    if type(b) not in _SCALARS:  # NumPy scalars (np.float64 subclasses float) become Python numbers: weak types
        b = scalar_value(b, op)
    kind = a._data.dtype.kind
    if isinstance(b, builtins.bool):
        return a, b
    if isinstance(b, builtins.complex):
        if kind != 'c':
            a = a.to(result_type(_FROM_NP[a._data.dtype], 2, _c64, 0))
        return a, b
    if isinstance(b, builtins.float):
        if kind not in 'fVc':  # 'V': bfloat16 (ml_dtypes)
            a = a.to(get_default_dtype())
    elif kind in 'iu':
        if not 0 <= b <= 127:
            b = wrap_int(b, a._data.dtype)
    elif kind == 'b':
        if not 0 <= b <= 127:
            b = int_scalar(b, a._data.dtype)
        a = a.to(int64)
    elif not -9223372036854775808 <= b < 18446744073709551616:  # (a floating or complex tensor: the Scalar
        # conversion of int_overflow still applies; literal bounds: constants, cheaper than globals on this path)
        raise int_overflow(b)
    return a, b


# PyTorch converts a Python int argument to its Scalar first: an int64, or a uint64 from 2**63 up; beyond that range
# (whatever the tensor's dtype) the conversion raises OverflowError, with the message of the C conversion that failed
_I64_MIN, _U64_END = -(1 << 63), 1 << 64


def int_overflow(b):
    """PyTorch's OverflowError for a Python int outside [-2**63, 2**64), which no Scalar holds."""
    return OverflowError("can't convert negative int to unsigned" if b < 0 else 'int too big to convert')


def int_scalar(b, np_dtype):
    """A Python int operand of a tensor of np_dtype as PyTorch takes it: wrapped into an integer dtype; beyond what
    a Scalar holds, OverflowError; from 2**63 (a uint64 Scalar) with a bool tensor, the promotion PyTorch refuses."""
    kind = np_dtype.kind
    if kind in 'iu':
        return wrap_int(b, np_dtype)
    if not _I64_MIN <= b < _U64_END:
        raise int_overflow(b)
    if kind == 'b' and b > 9223372036854775807:
        raise RuntimeError('Promotion for uint16, uint32, uint64 types is not supported, attempted to promote Bool '
                           'and UInt64')
    return b


def wrap_int(b, np_dtype):
    """A Python int as an integer tensor's dtype sees it: PyTorch casts the scalar, wrapping out-of-range values
    (``uint8_tensor + (-2)`` adds 254), where NumPy raises OverflowError; one no Scalar holds raises (int_overflow)."""
    if not _I64_MIN <= b < _U64_END:
        raise int_overflow(b)
    bits = np_dtype.itemsize * 8
    lo = -(1 << (bits - 1)) if np_dtype.kind == 'i' else 0
    if lo <= b < lo + (1 << bits):
        return b
    return (b - lo) % (1 << bits) + lo


def check_bool_sub(a, b):
    """PyTorch's refusals of a subtraction with a bool operand (after the conversion of a Python int operand)."""
    for x in (a, b):  # (a Python int no Scalar holds is refused first)
        if type(x) is builtins.int:
            wrap_int(x, int64.np)
    a_bool, b_bool = is_bool(a), is_bool(b)
    if a_bool and b_bool:
        raise RuntimeError('Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or '
                           '`logical_xor()` operator instead.')
    if a_bool or b_bool:
        raise RuntimeError('Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to '
                           'invert a mask, use the `~` or `logical_not()` operator instead.')


def is_bool(x):
    """Whether x is a bool or a bool tensor."""
    return isinstance(x, builtins.bool) or (isinstance(x, Tensor) and x._data.dtype.kind == 'b')


KERNEL_NAMES = SCALAR_NAMES  # (PyTorch's dtype names in kernel and overflow errors: ember._dtype's one table)
_C_NAMES = {'uint8': 'uint8_t', 'int8': 'int8_t', 'int16': 'int16_t', 'int32': 'int', 'int64': 'int64_t',
            'uint16': 'uint16_t', 'uint32': 'uint32_t', 'uint64': 'uint64_t', 'float32': 'float'}


def not_implemented(kernel, np_dtype):
    return NotImplementedError(f'"{kernel}" not implemented for \'{KERNEL_NAMES.get(np_dtype.name, np_dtype.name)}\'')


# PyTorch's refusals of complex inputs where it has no complex kernel (orderings, rounding, clamping); others read
# '"<kernel>" not implemented for 'ComplexFloat''
_COMPLEX_REFUSED = {
    'floor_vml_cpu': (NotImplementedError, 'floor is not supported for complex inputs'),
    'ceil_vml_cpu': (NotImplementedError, 'ceil is not supported for complex inputs'),
    'trunc_vml_cpu': (NotImplementedError, 'trunc is not supported for complex inputs'),
    'sign': (NotImplementedError, 'Unlike NumPy, torch.sign is not intended to support complex numbers. Please use '
                                  'torch.sgn instead.'),
    'clamp': (NotImplementedError, 'clamp is not supported for complex types'),
    'maximum': (RuntimeError, 'maximum not implemented for complex tensors.'),
    'minimum': (RuntimeError, 'minimum not implemented for complex tensors.'),
    'max': (RuntimeError, 'max(): does not support complex input'),
    'min': (RuntimeError, 'min(): does not support complex input'),
    'argmax': (RuntimeError, 'argmax(): does not support complex input'),
    'argmin': (RuntimeError, 'argmin(): does not support complex input'),
    'sort': (RuntimeError, ' Sort does not support complex dtypes on CPU'),
    'topk': (RuntimeError, ' topk does not support complex dtypes on CPU'),
}


def no_complex(a, kernel):
    """Raise PyTorch's error for ``kernel`` when ``a`` is a complex tensor."""
    if isinstance(a, Tensor) and a._data.dtype.kind == 'c':
        exc, msg = _COMPLEX_REFUSED.get(kernel, (None, None))
        raise exc(msg) if exc else not_implemented(kernel, a._data.dtype)


def _int_in_range(v, np_dtype):
    """v, when an integer dtype can store it (unsigned ones also take negatives down to -max, which wrap)."""
    kind = np_dtype.kind
    bits = np_dtype.itemsize * 8
    hi = (1 << (bits - (kind == 'i'))) - 1
    lo = -hi - 1 if kind == 'i' else -hi
    if not lo <= v <= hi:
        raise RuntimeError(f'value cannot be converted to type {_C_NAMES[np_dtype.name]} without overflow')
    return v


def fit_alpha(alpha, np_dtype, negate=False):
    """add/sub's int alpha as PyTorch uses it: a Scalar (int_overflow beyond one) that an integer dtype must hold;
    sub adds b times -alpha, negated in 64 bits (wrapping: -(2**64 - 1) is 1). Returns the alpha to compute with."""
    if not _I64_MIN <= alpha < _U64_END:
        raise int_overflow(alpha)
    v = ((-alpha - _I64_MIN) % _U64_END) + _I64_MIN if negate else alpha
    if np_dtype.kind in 'iu':
        _int_in_range(v, np_dtype)
    return -v if negate else v


def fit_scalar(v, np_dtype):
    """A Python number stored into a tensor of np_dtype (fill_, masked_fill, clamp), checked as PyTorch does: an
    integer out of the dtype's range is refused (unsigned ones also take negatives down to -max, which wrap)."""
    kind = np_dtype.kind
    if type(v) is builtins.int:
        if not _I64_MIN <= v < _U64_END:  # (no Scalar holds it: raised before the dtype is looked at)
            raise int_overflow(v)
        if kind in 'iu':
            return wrap_int(_int_in_range(v, np_dtype), np_dtype)
        return v
    if kind in 'iu' and isinstance(v, builtins.float):  # floats must land in range (NaN and inf never do)
        bits = np_dtype.itemsize * 8
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if kind == 'i' else (0, (1 << bits) - 1)
        if not lo <= v <= hi:
            raise RuntimeError(f'value cannot be converted to type {_C_NAMES[np_dtype.name]} without overflow')
        return v
    if kind == 'f' and np_dtype.itemsize == 4 and isinstance(v, builtins.float) and abs(v) > 3.4028234663852886e38 \
            and v != float('inf') and v != float('-inf'):
        raise RuntimeError('value cannot be converted to type float without overflow')
    return v


def scalar_value(b, op):
    """Numbers from NumPy scalars or 0-d arrays become Python numbers; anything else is refused."""
    if hasattr(b, 'item') and getattr(b, 'ndim', 0) == 0 and not isinstance(b, Tensor):
        return b.item()
    if isinstance(b, (list, tuple)):
        from .._creation import tensor
        return tensor(b)
    raise TypeError(f"{op}(): argument 'other' must be Tensor or Number, not {type(b).__name__}")


def as_tensor_like(x, like):
    """A Python scalar or array-like turned into a tensor on ``like``'s device."""
    if isinstance(x, Tensor):
        return x
    from .._creation import tensor
    return tensor(x, device=like._device)


def norm_dim(dim, ndim, name='dim'):
    """Wrap a possibly negative dim into range, with PyTorch's IndexError when it is out of range."""
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f'Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})')
    return dim % n


def norm_dims(dim, ndim):
    """A tuple of non-negative dims from None (all), an int or a sequence."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (builtins.int,)) or hasattr(dim, '__index__'):
        d = norm_dim(int(dim), ndim)
        return (d,) if ndim else ()  # a 0-d tensor takes dim 0 or -1 and has no axis to reduce
    dims = tuple(norm_dim(d, ndim) for d in dim)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f'dim {next(d for d in dims if dims.count(d) > 1)} appears multiple times in the list of '
                           f'dims')
    if not ndim:
        return ()
    return dims if dims or ndim == 0 else tuple(range(ndim))


def float_dtype_for(a):
    """The dtype an op that needs floats computes in: a's own if floating, else the default float."""
    return a._data.dtype if a._data.dtype.kind == 'f' else get_default_dtype().np


__all__ = ['record', 'record_with_output', 'unbroadcast', 'coerce_pair', 'norm_dim', 'norm_dims', 'same_device',
           'Tensor', '_wrap', 'bool_']


def renamed(out, name, *inputs):
    """Give a composite op's result the node name PyTorch's fused op shows (``grad_fn=<MseLossBackward0>``); a
    result that is one of ``inputs`` (or shares its node) is left alone; of a tuple, the first (values) is named."""
    if isinstance(out, tuple):
        renamed(out[0], name, *inputs)
        return out
    fn = out.grad_fn
    if fn is not None and all(fn is not getattr(x, 'grad_fn', None) for x in inputs):
        fn._name = name
    return out
