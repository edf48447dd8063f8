"""PyTorch's keyword names and ``out=`` for ember's top-level functions: one table and one wrapper."""
import inspect
import warnings

from ._tensor import Tensor
from ._dtype import SCALAR_NAMES
from .autograd.grad_mode import _State

# name: PyTorch's keyword=ember's parameter ... ('+': accepted, not shown by inspect; 'k=' with nothing after it:
# accepted and ignored, as pin_memory and layout, which mean nothing on NumPy); 'out' where PyTorch takes out=.
# Made from PyTorch's documented signatures (and checked against them by tests/test_compat.py): ember's op bodies
# keep their short names (a, b), and calls by keyword are renamed here, at the namespace layer, so Tensor methods
# and operators pay nothing.
_TABLE = """
abs input=a out; absolute input=a out; add input=a other=b out; addcdiv out; addcmul out;
addmm input=bias mat1=a mat2=b out; all input=a out; allclose input=a other=b; amax input=a out; amin input=a out;
any input=a out; arange out +pin_memory=; arctan input=a out; argmax input=a; argmin input=a; argsort input=a out;
argwhere input=a; asarray obj=data; atan input=a out; bernoulli out; bincount input=a;
bitwise_and input=a other=b out; bitwise_not input=a out; bitwise_or input=a other=b out;
bitwise_xor input=a other=b out; bmm input=a mat2=b out; broadcast_to input=a; cat out; ceil input=a out;
chunk input=a; clamp input=a out; clip input=a out; clone input=t; concat out; concatenate axis=dim out;
cos input=a out; count_nonzero input=a; cumprod input=a out; cumsum input=a out; diag input=a out; diagonal input=a;
div input=a other=b out; divide input=a other=b out; dot input=a tensor=b out; empty out; eq input=a other=b out;
equal input=a other=b; exp input=a out; expm1 input=a out; eye out +pin_memory=; flatten input=a; flip input=a;
fliplr input=a; flipud input=a; floor input=a out; floor_divide input=a other=b out; fmod input=a other=b out;
frac input=a out; from_numpy ndarray=arr; full out; gather input=a out; ge input=a other=b out;
ger input=a vec2=b out; greater input=a other=b out; greater_equal input=a other=b out; gt input=a other=b out;
histc input=a out; hstack out; index_add input=a out; index_select input=a out; inner input=a other=b out;
is_floating_point input=t; is_nonzero input=t; isclose input=a other=b; isfinite input=a; isinf input=a;
isnan input=a; kthvalue input=a out; le input=a other=b out; lerp input=start out; less input=a other=b out;
less_equal input=a other=b out; linspace out +pin_memory=; log input=a out; log10 input=a out; log1p input=a out;
log2 input=a out; log_softmax input=a +_stacklevel=; logical_and input=a other=b out; logical_not input=a out;
logical_or input=a other=b out; logical_xor input=a other=b out; logspace out +layout= +pin_memory=;
lt input=a other=b out; masked_fill input=a; masked_select input=a out; matmul input=a other=b out;
max input=a +other=dim out; maximum input=a other=b out; mean input=a out; median input=a out;
min input=a +other=dim out; minimum input=a other=b out; mm input=a mat2=b out; moveaxis input=a; movedim input=a;
mul input=a other=b out; multinomial out; multiply input=a other=b out; mv input=a vec=v out; narrow input=a;
ne input=a other=b out; neg input=a out; negative input=a out; nonzero input=a out; norm input=a out;
normal out +layout= +pin_memory=; not_equal input=a other=b out; numel input=t; ones out; outer input=a vec2=b out;
permute input=a; pow input=a exponent=b out; prod input=a out; rand out; randint out +pin_memory=; randn out;
randperm out +pin_memory=; range out +layout=; reciprocal input=a out; relu input=a; remainder input=a other=b out;
reshape input=a; roll input=a; round input=a out; rsqrt input=a out; scatter input=a out; scatter_add input=a;
scatter_reduce input=a; select input=a; set_default_device device=dev; set_rng_state new_state=state;
sigmoid input=a out; sign input=a out; sin input=a out; softmax input=a; sort input=a out; split tensor=a;
spmm input=mat1 out; sqrt input=a out; square input=a out; squeeze input=a; stack out; std input=a out;
std_mean input=a out; sub input=a other=b out; subtract input=a other=b out; sum input=a out;
swapaxes input=a axis0=dim0 axis1=dim1; swapdims input=a; t input=a; take input=a; tan input=a out;
tanh input=a out;
tensor_split input=a +indices=indices_or_sections +sections=indices_or_sections
+tensor_indices_or_sections=indices_or_sections;
topk input=a out; transpose input=a; tril input=a out; triu input=a out;
true_divide input=a other=b dividend=a divisor=b out; trunc input=a out; unbind input=a; unflatten input=a;
unsqueeze input=a; var input=a out; var_mean input=a out; vstack out; where condition=cond input=a other=b out;
zeros out;
acos out; acosh out; aminmax out; angle out; arccos out; arccosh out; arcsin out; arcsinh out; arctan2 out;
arctanh out; asin out; asinh out; atan2 out; atanh out; bitwise_left_shift out; bitwise_right_shift out;
cholesky out; cholesky_inverse out; cholesky_solve out; clamp_max out; clamp_min out; column_stack out;
conj_physical out; copysign out; cosh out; cross out; cummax out; cummin out; deg2rad out; det input=A; digamma out;
dsplit +indices=indices_or_sections +sections=indices_or_sections; dstack out; erf out; erfc out; erfinv out;
exp2 out; float_power out; fmax out; fmin out; frexp out; gcd out; heaviside out; histogram out;
hsplit +indices=indices_or_sections +sections=indices_or_sections; hypot out; i0 out; igamma out; igammac out;
inverse input=A out; isin +element=elements +test_element=test_elements out; isneginf out; isposinf out; kron out;
lcm out; ldexp out; lgamma out; logaddexp out; logaddexp2 out; logcumsumexp out; logit out; matrix_power input=A out;
mode out; msort out; mvlgamma out; nan_to_num out; nanmean out; nanquantile out; nextafter out; polygamma out;
qr out; quantile out; rad2deg out; renorm out; searchsorted +values=input out; sgn out; signbit out; sinc out; sinh out;
slogdet input=A; svd out; take_along_dim out; triangular_solve out; unsafe_chunk input=a; unsafe_split tensor=a;
vsplit +indices=indices_or_sections +sections=indices_or_sections; xlogy out; histogramdd out; index_reduce out;
lu_solve out; lu_unpack out; nanmedian out; complex out; polar out; orgqr +input2=tau out;
ormqr +tau=input2 +other=input3 out; pca_lowrank; svd_lowrank;
"""

# factory functions: out= gives the result's dtype and is resized silently
_FACTORIES = frozenset(('zeros', 'ones', 'empty', 'full', 'arange', 'range', 'linspace', 'logspace', 'eye', 'rand',
                        'randn', 'randint', 'randperm', 'normal'))
# factories whose shape is given as *size: PyTorch accepts size= too
_VARSIZE = frozenset(('zeros', 'ones', 'empty', 'rand', 'randn'))
# reductions write any result dtype into out (PyTorch casts them); elementwise ops refuse a lower category
_FREE_CAST = frozenset(('sum', 'prod', 'mean', 'cumsum', 'cumprod', 'norm', 'var', 'std', 'amax', 'amin'))
_CATEGORY = {'b': 0, 'u': 1, 'i': 1, 'f': 2, 'V': 2, 'c': 3}  # 'V': ml_dtypes' bfloat16 is a floating type


def _parse(text):
    out = {}
    for item in text.split(';'):
        words = item.split()
        if words:
            pairs = [w.split('=') for w in words[1:] if '=' in w]
            alias = {k.lstrip('+'): v for k, v in pairs}
            shown = {v: k for k, v in reversed(pairs) if k[0] != '+'}  # ember name -> the first PyTorch name
            out[words[0]] = (alias, 'out' in words[1:], shown)
    return out


def _resize(out, shape, dtype_np, name, warn):
    if tuple(out.shape) == tuple(shape):
        return
    if warn and out.numel() != 0:
        warnings.warn(f'An output with one or more elements was resized since it had shape {list(out.shape)}, which '
                      f'does not match the required output shape {list(shape)}. This behavior is deprecated, and in a '
                      f'future PyTorch release outputs will not be resized unless they have zero elements. You can '
                      f'explicitly reuse an out tensor t by resizing it, inplace, to zero elements with t.resize_(0).',
                      UserWarning, stacklevel=4)
    with _device_ctx(out):
        out._data = out._device.xp.empty(tuple(shape), dtype=dtype_np)


def _device_ctx(t):
    from ._creation import _on
    return _on(t._device)


def write_out(name, result, out, free_cast=False, warn=True):
    """PyTorch's ``out=``: result's values written into ``out`` (resized if its shape differs), which is returned."""
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}(): argument 'out' must be tuple of {len(result)} Tensors")
        done = [write_out(name, r, o, free_cast, warn) for r, o in zip(result, out)]
        return type(result)(*done) if hasattr(result, '_fields') else tuple(done)
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if not isinstance(result, Tensor):
        raise TypeError(f'{name}(): out= is not supported for this call')
    if _State.grad_enabled and (result.grad_fn is not None or out._rg):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, but "
                           f"one of the arguments requires grad.")
    if result._device is not out._device:
        raise RuntimeError(f'Expected out tensor to have device {result._device}, but got {out._device} instead')
    if 0 in out._data.strides:  # (an expand: PyTorch refuses to write one element twice, as for in-place ops)
        from .ops.inplace import check_overlap
        check_overlap(out)
    rk, ok = result._data.dtype, out._data.dtype
    if not free_cast and _CATEGORY[rk.kind] > _CATEGORY[ok.kind]:
        raise RuntimeError(f"result type {SCALAR_NAMES[result.dtype.name]} can't be cast to the desired output "
                           f"type {SCALAR_NAMES[out.dtype.name]}")
    _resize(out, result.shape, ok, name, warn)
    out._device.xp.copyto(out._data, result._data, casting='unsafe')
    out._bump()
    return out


def _factory_out(name, fn, args, kwargs, out):
    dt = kwargs.get('dtype')
    if dt is not None and dt is not out.dtype:
        raise RuntimeError(f'dtype {SCALAR_NAMES[dt.name]} does not match dtype of out parameter '
                           f'({SCALAR_NAMES[out.dtype.name]})')
    kwargs['dtype'] = out.dtype
    kwargs.setdefault('device', out._device)
    return write_out(name, fn(*args, **kwargs), out, warn=False)


def _signature(fn, back, has_out):
    """ember's signature with PyTorch's names (and out=) where they differ: what help() and inspect show."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params = [p.replace(name=back.get(p.name, p.name)) for p in sig.parameters.values() if p.name != 'out']
    if has_out:
        out = inspect.Parameter('out', inspect.Parameter.KEYWORD_ONLY, default=None)
        at = next((i for i, p in enumerate(params) if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD)), len(params))
        params.insert(at, out)
    try:
        return sig.replace(parameters=params)
    except ValueError:
        return None


def torch_args(name, fn, alias, has_out, shown=None):
    """``fn`` taking PyTorch's keyword names (renamed to ember's by ``alias``) and, when ``has_out``, out=."""
    factory, free, varsize = name in _FACTORIES, name in _FREE_CAST, name in _VARSIZE
    if has_out:
        def wrapper(*args, out=None, **kwargs):
            if varsize and (not args or 'size' in kwargs):
                args = _size_args(name, args, kwargs)
            if kwargs and alias:
                kwargs = {e: v for k, v in kwargs.items() if (e := alias.get(k, k))}
            if out is None:
                return fn(*args, **kwargs)
            if factory:
                return _factory_out(name, fn, args, kwargs, out)
            return write_out(name, fn(*args, **kwargs), out, free)
    else:
        def wrapper(*args, **kwargs):
            if kwargs and alias:
                kwargs = {e: v for k, v in kwargs.items() if (e := alias.get(k, k))}
            return fn(*args, **kwargs)
    wrapper.__name__, wrapper.__qualname__ = name, name
    wrapper.__module__, wrapper.__doc__ = getattr(fn, '__module__', None), fn.__doc__
    sig = _signature(fn, alias if shown is None else shown, has_out)
    if sig is not None:
        wrapper.__signature__ = sig  # for zeros & co: (*size, ...), the name PyTorch's size= keyword uses
    wrapper._ember_fn = fn
    return wrapper


def _size_args(name, args, kwargs):
    """zeros(size=(2, 3)) as zeros(2, 3); no size at all is PyTorch's TypeError."""
    if 'size' not in kwargs:
        raise TypeError(f'{name}() missing 1 required positional arguments: "size"')
    if args:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    return (kwargs.pop('size'),)


def install(namespace):
    """Replace each listed function of ``namespace`` (ember's globals) by its PyTorch-keyword form."""
    for name, (alias, has_out, shown) in _parse(_TABLE).items():
        fn = namespace.get(name)
        if fn is not None and callable(fn):
            namespace[name] = torch_args(name, fn, alias, has_out, shown)
