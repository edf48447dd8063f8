"""Tensor element types (ember.float32, ember.long, ...) mapped onto NumPy/CuPy dtypes, and PyTorch's promotion rules."""
import builtins

import numpy as _np

try:  # bfloat16 storage: ml_dtypes' NumPy dtype (the one JAX uses); a core dependency, guarded for broken installs
    from ml_dtypes import bfloat16 as _np_bfloat16
except ImportError:  # pragma: no cover
    _np_bfloat16 = None


class dtype:
    """An element type; ``.np`` is the matching NumPy dtype used for storage."""
    __slots__ = ('name', 'np', 'is_floating_point', 'is_signed', 'itemsize', '_category')

    def __init__(self, name, np_dtype, category):
        self.name, self.np = name, _np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = self.np.kind in 'ifc' or category == 2
        self.itemsize = self.np.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating, 3 complex: the order PyTorch promotes in

    def __repr__(self):
        return f'torch.{self.name}'  # one printed text under any import name: see README

    def __reduce__(self):
        return (_by_name, (self.name,))

    @property
    def is_complex(self):
        return self._category == 3

    def to_real(self):
        return _REAL_OF.get(self.name, self)

    def to_complex(self):
        if self._category == 3:
            return self
        if self._category != 2:
            raise RuntimeError(f'to_complex is only supported for floating point types, got {self}')
        return complex128 if self.name == 'float64' else complex64  # (no complex32 storage: see complex32 below)


float16 = dtype('float16', 'float16', 2)
float32 = dtype('float32', 'float32', 2)
float64 = dtype('float64', 'float64', 2)
int8 = dtype('int8', 'int8', 1)
int16 = dtype('int16', 'int16', 1)
int32 = dtype('int32', 'int32', 1)
int64 = dtype('int64', 'int64', 1)
uint8 = dtype('uint8', 'uint8', 1)
# PyTorch's "limited support" unsigned types: storage, copies, comparisons and hash_tensor's result; no promotion
uint16 = dtype('uint16', 'uint16', 1)
uint32 = dtype('uint32', 'uint32', 1)
uint64 = dtype('uint64', 'uint64', 1)
bool_ = dtype('bool', 'bool', 0)
bfloat16 = dtype('bfloat16', _np_bfloat16, 2) if _np_bfloat16 is not None else None
complex64 = dtype('complex64', 'complex64', 3)
complex128 = dtype('complex128', 'complex128', 3)
cfloat, cdouble = complex64, complex128
_REAL_OF = {'complex64': float32, 'complex128': float64}

half, float, double = float16, float32, float64
short, int, long = int16, int32, int64

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool_, complex64,
       complex128) + (
    (bfloat16,) if bfloat16 else ())
_FROM_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}


# the legacy tensor-type names x.type() reports and accepts ('torch.FloatTensor')
_LEGACY_NAMES = {'float16': 'HalfTensor', 'float32': 'FloatTensor', 'float64': 'DoubleTensor', 'int8': 'CharTensor',
                 'int16': 'ShortTensor', 'int32': 'IntTensor', 'int64': 'LongTensor', 'uint8': 'ByteTensor',
                 'bool': 'BoolTensor', 'bfloat16': 'BFloat16Tensor', 'complex64': 'ComplexFloatTensor',
                 'complex128': 'ComplexDoubleTensor', 'uint16': 'UInt16Tensor', 'uint32': 'UInt32Tensor',
                 'uint64': 'UInt64Tensor'}
_FROM_LEGACY = {v: _BY_NAME[k] for k, v in _LEGACY_NAMES.items() if k in _BY_NAME}


def _by_name(name):
    return _BY_NAME[name]


class _Defaults:
    float_dtype = float32


def get_default_dtype():
    return _Defaults.float_dtype


def set_default_dtype(d):
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f'only floating-point types are supported as the default type, got {d}')
    _Defaults.float_dtype = d


def no_complex32():
    """complex32 (chalf) has no NumPy storage: ember refuses it plainly rather than store it as complex64."""
    return TypeError('ember has no complex32 (chalf) dtype: NumPy has no half-precision complex type to store it; '
                     'use complex64 (cfloat) instead')


def real_only(d, exc, msg):
    """``d``, or ``exc(msg)`` (``{}`` in msg: PyTorch's name for d) when d is complex: for the ops PyTorch has no
    complex kernel for."""
    if d is not None and d.is_complex:
        raise exc(msg.format(_LEGACY_NAMES[d.name][:-len('Tensor')]))
    return d


def from_np(np_dtype):
    """The ember dtype of a NumPy/CuPy dtype; float64 Python data is kept as it is."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        raise TypeError(f"ember has no dtype for numpy dtype '{np_dtype}'; supported: "
                        + ', '.join(d.name for d in ALL)) from None


def to_dtype(d):
    """Accept an ember dtype, a NumPy dtype/type, or a name, as PyTorch APIs accept torch dtypes."""
    if d is None or type(d) is dtype:
        return d
    if isinstance(d, str):
        d = d.replace('torch.', '').replace('ember.', '')
        if d in _BY_NAME:
            return _BY_NAME[d]
        if d in _FROM_LEGACY:
            return _FROM_LEGACY[d]
        alias = {'float': float32, 'double': float64, 'half': float16, 'long': int64, 'int': int32, 'short': int16,
                 'cfloat': complex64, 'cdouble': complex128}
        if d in alias:
            return alias[d]
        if d in ('complex32', 'chalf'):
            raise no_complex32()
    if d is builtins.float:  # Python's float is a double, whatever the default dtype (as in PyTorch)
        return float64
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if d is builtins.complex:
        return get_default_dtype().to_complex()
    try:
        return from_np(_np.dtype(d))
    except TypeError:
        raise TypeError(f'not a dtype: {d!r}') from None


def scalar_dtype(value):
    """The dtype PyTorch gives a Python scalar when it stands alone (bool, int64, default float)."""
    if isinstance(value, builtins.bool) or isinstance(value, _np.bool_):
        return bool_
    if isinstance(value, (builtins.int, _np.integer)):
        return int64
    if isinstance(value, (builtins.complex, _np.complexfloating)):
        return get_default_dtype().to_complex()
    return get_default_dtype()


def promote(a, b):
    """Result dtype of two dtypes of equal priority (both tensors or both scalars)."""
    if a is b:
        return a
    if a in _NO_PROMOTION or b in _NO_PROMOTION:
        raise RuntimeError(f'Promotion for uint16, uint32, uint64 types is not supported, attempted to promote '
                           f'{SCALAR_NAMES[a.name]} and {SCALAR_NAMES[b.name]}')
    if a._category == 3 or b._category == 3:  # complex keeps the wider float's precision (float64+cfloat: cdouble)
        ra = a.to_real() if a._category >= 2 else float32
        rb = b.to_real() if b._category >= 2 else float32
        return promote(ra, rb).to_complex() if ra is not bfloat16 and rb is not bfloat16 else complex64
    if a._category != b._category:  # PyTorch: the higher category's dtype wins (float32 + int64 -> float32)
        return a if a._category > b._category else b
    return _FROM_NP[_np.promote_types(a.np, b.np)]


def result_type(a_dtype, a_dim, b_dtype, b_dim):
    """PyTorch's promotion for a binary op: dimensioned tensors outrank 0-dim tensors outrank Python scalars.

    ``*_dim`` is 2 for a tensor with dims, 1 for a 0-dim tensor, 0 for a Python scalar; a lower-priority
    operand only matters when its category (bool < int < float) is higher.
    """
    if a_dtype is b_dtype:
        return a_dtype
    if a_dim == b_dim:
        return promote(a_dtype, b_dtype)
    hi, lo = (a_dtype, b_dtype) if a_dim > b_dim else (b_dtype, a_dtype)
    if lo._category <= hi._category:
        return hi
    if lo._category == 3:  # complex of lower priority: a floating operand keeps its precision (float64 + 1j)
        if hi._category == 2:
            return hi.to_complex() if hi is not bfloat16 else complex64
        return get_default_dtype().to_complex() if min(a_dim, b_dim) == 0 else lo
    if min(a_dim, b_dim) == 0:  # a Python scalar of higher category: that category's default dtype
        return get_default_dtype() if lo._category == 2 else (int64 if lo._category == 1 else lo)
    return lo


_NO_PROMOTION = (uint16, uint32, uint64)
# PyTorch's ScalarType names, as its errors print dtypes ("abs_cpu" not implemented for 'Bool', result type Long...)
SCALAR_NAMES = {'float16': 'Half', 'float32': 'Float', 'float64': 'Double', 'int8': 'Char', 'int16': 'Short',
                'int32': 'Int', 'int64': 'Long', 'uint8': 'Byte', 'uint16': 'UInt16', 'uint32': 'UInt32',
                'uint64': 'UInt64', 'bool': 'Bool', 'bfloat16': 'BFloat16', 'complex64': 'ComplexFloat',
                'complex128': 'ComplexDouble', 'complex32': 'ComplexHalf'}


def _g(x):
    return f'{x:g}'


class finfo:
    """Machine limits of a floating dtype (PyTorch's torch.finfo): bits, eps, max, min, tiny, resolution, ..."""

    def __init__(self, type=None):
        d = get_default_dtype() if type is None else to_dtype(type)
        d = d.to_real()  # a complex dtype's limits are its parts' (finfo(complex64) is float32's)
        if not d.is_floating_point:
            raise TypeError("torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            "'torch.finfo'")
        info = _np.finfo(d.np) if d is not bfloat16 else __import__('ml_dtypes').finfo(d.np)
        self.bits, self.dtype = info.bits, d.name
        self.eps, self.max, self.min = builtins.float(info.eps), builtins.float(info.max), builtins.float(info.min)
        self.tiny = self.smallest_normal = builtins.float(info.smallest_normal)
        self.resolution = builtins.float(10.0 ** -info.precision)

    def __eq__(self, other):
        return isinstance(other, finfo) and other.dtype == self.dtype

    __hash__ = object.__hash__

    def __repr__(self):
        return (f'finfo(resolution={_g(self.resolution)}, min={_g(self.min)}, max={_g(self.max)}, eps={_g(self.eps)}, '
                f'smallest_normal={_g(self.smallest_normal)}, tiny={_g(self.tiny)}, dtype={self.dtype})')


class iinfo:
    """Limits of an integer dtype (PyTorch's torch.iinfo): bits, min, max."""

    def __init__(self, type):
        d = to_dtype(type)
        if d.is_floating_point or d is bool_ or d.is_complex:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle 'torch.iinfo'")
        info = _np.iinfo(d.np)
        self.bits, self.min, self.max, self.dtype = info.bits, builtins.int(info.min), builtins.int(info.max), d.name

    def __eq__(self, other):
        return isinstance(other, iinfo) and other.dtype == self.dtype

    __hash__ = object.__hash__

    def __repr__(self):
        return f'iinfo(min={_g(self.min)}, max={_g(self.max)}, dtype={self.dtype})'


class layout(str):
    """A memory layout (torch.strided, torch.sparse_coo): printed as PyTorch's; equal to its name too."""
    __slots__ = ()

    def __repr__(self):
        return f'torch.{str.__str__(self)}'

    __str__ = __repr__


strided, sparse_coo = layout('strided'), layout('sparse_coo')
