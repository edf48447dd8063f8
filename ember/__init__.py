"""ember: a define-by-run deep-learning framework with PyTorch's API on NumPy (cpu) and CuPy (cuda)."""
import numpy as _np

from . import _allocator
_allocator.apply_if_requested()
# PyTorch does not warn on log(0), 0/0 or overflow: results are inf/nan as IEEE says; keep NumPy equally quiet
_np.seterr(divide='ignore', invalid='ignore', over='ignore')

from ._dtype import (dtype, float16, float32, float64, int8, int16, int32, int64, uint8, bool_ as bool,  # noqa: E402
                     uint16, uint32, uint64, half, float, double, short, int, long, bfloat16, get_default_dtype,
                     set_default_dtype, finfo, iinfo, complex64, complex128, cfloat, cdouble)
from ._tensor import Tensor, Size  # noqa: E402
from .backends import device, cpu as _cpu_device  # noqa: E402
from .backends.random import (Generator, default_generator, manual_seed, seed, initial_seed,  # noqa: E402
                              get_rng_state, set_rng_state)
from . import random  # noqa: E402
from ._creation import (tensor, as_tensor, asarray, from_numpy, zeros, ones, empty, full, zeros_like,  # noqa: E402
                        ones_like, empty_like, full_like, arange, linspace, logspace, eye)
from ._sampling import (rand, randn, randint, randperm, rand_like, randn_like, randint_like, normal,  # noqa: E402
                        bernoulli, multinomial, poisson)
from ._creation import range_ as range  # noqa: E402
from ._creation import (FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor, ShortTensor,  # noqa
                        CharTensor, ByteTensor, BoolTensor)
from ._printing import set_printoptions, typename  # noqa: E402
from .autograd import no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled  # noqa: E402
from . import autograd  # noqa: E402
from .ops.elementwise import (add, sub, mul, div, remainder, pow, neg, abs, exp, expm1, log, log2, log10,  # noqa
                              log1p, sqrt, rsqrt, reciprocal, square, sin, cos, tan, tanh, sigmoid, atan, relu,
                              sign, floor, ceil, trunc, round, frac, clamp, clip, maximum, minimum, where, eq, ne,
                              lt, le, gt, ge, greater, less, greater_equal, less_equal, not_equal, logical_and,
                              logical_or, logical_xor, logical_not, bitwise_not, bitwise_and, bitwise_or,
                              bitwise_xor, isnan, isinf, isfinite, isclose, allclose, equal, floor_divide)
from .ops.reduce import (sum, mean, prod, max, min, amax, amin, argmax, argmin, var, std, var_mean,  # noqa: E402
                         std_mean, norm, logsumexp, softmax, log_softmax, cumsum, cumprod, all, any, count_nonzero)
from .ops.shape import (reshape, flatten, unflatten, squeeze, unsqueeze, permute, transpose, t, movedim,  # noqa
                        broadcast_to, cat, concat, concatenate, stack, hstack, vstack, split, tensor_split, chunk,
                        unbind, narrow, select, flip, fliplr, flipud, roll, tril, triu, diagonal, diag)
from .ops.index import (gather, scatter, scatter_add, scatter_reduce, index_select, index_add,  # noqa: E402
                        masked_fill, masked_select, take, nonzero, argwhere)
from .ops.linalg import matmul, mm, bmm, mv, dot, inner, outer, ger, addmm, einsum  # noqa: E402
from .ops.distance import cdist  # noqa: E402
from .ops.sorting import sort, argsort, topk, kthvalue, median, unique, bincount, histc  # noqa: E402

multiply, subtract, divide, true_divide, negative, absolute, arctan = mul, sub, div, div, neg, abs, atan
swapaxes = swapdims = transpose
moveaxis = movedim
from .ops.elementwise import fmod  # noqa: E402
from .ops._util import renamed as _renamed  # noqa: E402
from .ops.elementwise import rsub as _rsub  # noqa: E402,F401
from .ops.math_extra import (asin, acos, asinh, acosh, atanh, sinh, cosh, exp2, deg2rad, rad2deg, sinc, sgn,  # noqa
                             signbit, positive, nan_to_num, clamp_min, clamp_max, logit, frexp, isposinf, isneginf,
                             isreal, real, conj, resolve_conj, resolve_neg, conj_physical, angle, atan2, arctan2,
                             hypot, copysign, logaddexp, logaddexp2, xlogy, fmax, fmin, float_power, ldexp, nextafter,
                             gcd, lcm, bitwise_left_shift, bitwise_right_shift, heaviside, rsub)
from .ops.complex import view_as_real, view_as_complex, imag, complex, polar, is_conj, is_complex  # noqa: E402
from .ops.special import erf, erfc, erfinv, lgamma, digamma, polygamma, mvlgamma, i0, igamma, igammac  # noqa
arcsin, arccos, arcsinh, arccosh, arctanh = asin, acos, asinh, acosh, atanh
from . import linalg  # noqa: E402
from .ops.reduce_extra import (nansum, nanmean, aminmax, cummax, cummin, logcumsumexp, mode, quantile,  # noqa
                               nanquantile, msort, trace, cov, corrcoef, diff, trapezoid, trapz, cumulative_trapezoid,
                               dist, renorm, histogram, bucketize, searchsorted, isin, unique_consecutive)
from .ops.shape_extra import (tile, kron, rot90, atleast_1d, atleast_2d, atleast_3d, ravel, column_stack,  # noqa
                              dstack, hsplit, vsplit, dsplit, split_with_sizes, unsafe_split, unsafe_chunk,
                              diag_embed, diagflat, block_diag, cartesian_prod, combinations, tril_indices,
                              triu_indices, repeat_interleave, take_along_dim, index_fill, tensordot, unravel_index,
                              addmv, addbmm, baddbmm, addr, vdot, scalar_tensor)
from .ops.misc_extra import (put, nanmedian, index_reduce, gradient, histogramdd, nonzero_static,  # noqa: E402
                             empty_strided, empty_permuted, zero_)
from .ops.linalg_extra import (det, slogdet, logdet, cholesky_inverse, cholesky_solve, triangular_solve,  # noqa
                               svd_legacy as svd)
from .linalg import matrix_power, matrix_exp, inv as inverse  # noqa: E402
from .linalg import (_cholesky_legacy as cholesky, _qr_legacy as qr, _pinverse_legacy as pinverse,  # noqa: E402
                     _cross_legacy as cross)
from .ops.lu import lu_legacy as lu, lu_unpack, lu_solve_legacy as lu_solve  # noqa: E402
from .ops.lapack import geqrf, ormqr, householder_product as orgqr  # noqa: E402
from .ops.storage import as_strided, resize_as_  # noqa: E402
from .ops.hashing import hash_tensor  # noqa: E402
from .ops.lowrank import svd_lowrank, pca_lowrank  # noqa: E402

__version__ = '0.1.0'


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(t):
    return t.is_floating_point()


def is_nonzero(t):
    return t.__bool__()


def numel(t):
    return t.numel()


def clone(t, memory_format=None):
    return t.clone()


def detach(t):
    return t.detach()


def broadcast_tensors(*tensors):
    shape = _np.broadcast_shapes(*[tuple(x.shape) for x in tensors])
    return tuple(x.expand(shape) for x in tensors)


def broadcast_shapes(*shapes):
    try:
        return Size(_np.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(f'Shape mismatch: objects cannot be broadcast to a single shape: {shapes}') from None


def meshgrid(*tensors, indexing='ij'):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    n = len(tensors)
    shape = [x.numel() for x in tensors]
    if indexing == 'xy' and n >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(tensors):
        view = [1] * n
        pos = i
        if indexing == 'xy' and n >= 2 and i < 2:
            pos = 1 - i
        view[pos] = -1
        out.append(x.reshape(view).expand(shape))
    return tuple(out)


def lerp(start, end, weight):
    return _renamed(start + weight * (end - start), 'LerpBackward1' if isinstance(weight, Tensor) else 'LerpBackward0')


def addcmul(input, tensor1, tensor2, *, value=1):
    return _renamed(input + value * tensor1 * tensor2, 'AddcmulBackward0')


def addcdiv(input, tensor1, tensor2, *, value=1):
    return _renamed(input + value * tensor1 / tensor2, 'AddcdivBackward0')


def set_default_device(device):
    """The device factory functions (zeros, tensor, randn, ...) use when given none; None restores cpu."""
    from .backends import _default, get_device
    if device is None:
        _default[0] = None
        return
    dev = get_device(device)
    if dev.type == 'cuda':
        dev.xp  # without CuPy or a GPU: the clear error every cuda tensor gives, before anything changes
    _default[0] = None if dev is _cpu_device else dev


def get_default_device():
    from .backends import get_device
    return get_device(None)


def compile(model=None, **kwargs):
    """PyTorch 2's compiler: ember runs eagerly, so this returns the model unchanged."""
    if model is None:
        return lambda m: m
    return model


def constant_pad_nd(input, pad, value=0):
    """torch.constant_pad_nd: nn.functional.pad with mode='constant'."""
    return nn.functional.pad(input, list(pad), 'constant', value)


def use_deterministic_algorithms(mode, *, warn_only=False):
    pass


def get_num_threads():
    try:
        from threadpoolctl import threadpool_info
        return max(i['num_threads'] for i in threadpool_info()) or 1
    except Exception:
        import os
        return os.cpu_count() or 1


def set_num_threads(n):
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    except ImportError:
        pass


from .serialization import save, load  # noqa: E402
from . import nn, optim, utils, cuda, distributed  # noqa: E402
from .utils import data as _data  # noqa: E402,F401
from .nn.functional import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, max_pool1d,  # noqa
                            max_pool2d, avg_pool1d, dropout, layer_norm, batch_norm, group_norm, embedding,
                            cosine_similarity, pairwise_distance, pixel_shuffle, selu, celu, channel_shuffle)
from .nn._functional.native import (native_layer_norm, native_group_norm, native_batch_norm,  # noqa: E402,F401
                                    native_dropout_backward)
from .nn._functional.grid import grid_sampler, grid_sampler_2d, grid_sampler_3d  # noqa: E402,F401
from . import sparse, multiprocessing, amp, accelerator, testing, hub, onnx, special, fft  # noqa: E402
from .ops.spectral import stft, istft  # noqa: E402
from . import version  # noqa: E402,F401  (torch.version: the PyTorch API version, no CUDA build)
from .sparse import sparse_coo_tensor, spmm  # noqa: E402
from .amp import autocast  # noqa: E402
from .amp.autocast_mode import is_autocast_enabled, get_autocast_dtype  # noqa: E402
from .backends import cudnn as _cudnn, mps as _mps, cuda as _backends_cuda  # noqa: E402,F401
from .utils import dlpack as _dlpack, checkpoint as _checkpoint  # noqa: E402,F401
from .utils.dlpack import from_dlpack  # noqa: E402
from ._dtype import layout, strided, sparse_coo  # noqa: E402,F401  (equal to 'strided', 'sparse_coo' too)


def set_float32_matmul_precision(precision):
    """'highest' (full float32) or 'high'/'medium' (TF32 matmuls on CUDA, where CuPy supports it)."""
    if precision not in ('highest', 'high', 'medium'):
        raise RuntimeError(f'Invalid precision {precision!r}: expected highest, high or medium')
    _backends_cuda.matmul.allow_tf32 = precision != 'highest'
    _backends_cuda._precision[0] = precision


def get_float32_matmul_precision():
    return _backends_cuda._precision[0]


from ._keywords import install as _install_keywords  # noqa: E402
_install_keywords(globals())  # PyTorch's keyword names and out= on the functions above


def __getattr__(name):
    if name == 'slice':  # aten.slice (OpInfo's `slice`): here, not a global, so `from ember import *` keeps builtins
        from .ops.storage import slice_op
        return slice_op
    # scripts run through `ember run` see this for torch.X: say plainly that ember lacks it
    if name.startswith('__'):
        raise AttributeError(name)
    if name in ('complex32', 'chalf'):
        from ._dtype import no_complex32
        raise AttributeError(str(no_complex32()))
    raise AttributeError(f"module 'ember' has no attribute '{name}' (torch.{name} is not supported by ember)")
