"""Multi-tensor fused optimizer updates for the cuda path: one kernel launch per (param group, dtype).

The per-element arithmetic is the one of ``ember.backends.cuda_kernels`` (``_SGD_BODY``, ``_SGD_PLAIN``,
``_ADAM_BODY``: the same text is compiled here), so these kernels and the per-parameter ones agree exactly. What this
module adds is the launch over a *table* of tensors:

  table (int64): ``n + 1`` chunk starts (tensor i owns chunks ``cs[i] .. cs[i+1] - 1``), then ``n`` rows of 8:
      ``[param ptr, grad ptr, state0 ptr, state1 ptr, state2 ptr, numel, x6, x7]``
  SGD: state0 = momentum buffer, x6 = 1 on the tensor's first step (buffer := gradient);
  Adam: state0/1/2 = exp_avg, exp_avg_sq, max_exp_avg_sq; x6, x7 = the tensor's step size and sqrt(1 - beta2^t) as
      float64 bits, read only when the tensors are at different steps (else they come as kernel arguments).

Block ``b`` finds its tensor by a binary search of the chunk starts and updates ``chunk`` elements of it. The table
goes to the GPU with ``cupy.asarray`` (a pinned staging buffer and an asynchronous copy: no host sync) and is cached
by content, so a training loop whose arrays keep their addresses (the usual case with CuPy's memory pool) uploads
nothing after the first steps.

Tensors the table cannot take (float16, a strided parameter or state) are updated by the per-parameter kernels of
``cuda_kernels`` (a strided gradient, or one of another dtype, is copied contiguous and stays in the table); a
list holding one parameter twice is updated one tensor at a time, in order. Given NumPy arrays, everything runs a
NumPy emulation of the kernel (same table, same chunk walk, the NumPy references of the per-element math), so the
bookkeeping is tested without a GPU.
"""
import math
import re
from collections import OrderedDict

import numpy as _np

from ..backends import cuda_kernels as _K

__all__ = ['sgd_', 'adam_', 'CHUNK', 'BLOCK']

BLOCK = 256      # threads per block
CHUNK = 1024     # elements per block (4 per thread): ~1000 blocks per million parameters
_ROW = 8
_TABLES = OrderedDict()  # (device, stream, table bytes) -> device copy of the table
_TABLES_MAX = 32

_KERNEL = r'''
extern "C" __global__ void NAME(const long long* __restrict__ tab, const int n, const long long chunk, ARGS) {
    const long long c = (long long)blockIdx.x;
    int lo = 0, hi = n - 1;  /* the last tensor whose first chunk is <= c */
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (tab[mid] <= c) lo = mid; else hi = mid - 1;
    }
    const long long* row = tab + (n + 1) + 8LL * lo;
    const long long numel = row[5];
    const long long start = (c - tab[lo]) * chunk;
    const long long end = (start + chunk < numel) ? start + chunk : numel;
    T* P = reinterpret_cast<T*>(row[0]);
    const T* G = reinterpret_cast<const T*>(row[1]);
    T* S0 = reinterpret_cast<T*>(row[2]);
    T* S1 = reinterpret_cast<T*>(row[3]);
    T* S2 = reinterpret_cast<T*>(row[4]);
    PRE
    for (long long j = start + (long long)threadIdx.x; j < end; j += (long long)blockDim.x) {
        T& p = P[j];
        const T g = G[j];
        BIND
        {
BODY
        }
    }
}
'''

_SPECS = {
    # kind: (argument list, per-block prelude, per-element bindings, element body)
    'sgd': ('const T lr, const T wd, const int maximize', '(void)S0; (void)S1; (void)S2;', '', _K._SGD_PLAIN),
    'sgd_mom': ('const T lr, const T wd, const T momentum, const T dampening, const int nesterov, '
                'const int maximize', '(void)S1; (void)S2; const bool first = row[6] != 0;', 'T& buf = S0[j];',
                _K._SGD_BODY),
    'adam': ('const T lr, const T beta1, const T beta2, const T eps, const T wd, const T step_size0, '
             'const T bc2_sqrt0, const int decoupled, const int maximize, const int per_tensor',
             '(void)S2; const T step_size = per_tensor ? (T)__longlong_as_double(row[6]) : step_size0; '
             'const T bc2_sqrt = per_tensor ? (T)__longlong_as_double(row[7]) : bc2_sqrt0;',
             'T& m = S0[j]; T& v = S1[j];', _K._ADAM_BODY.replace('AMS', 'AC vh = vi;')),
    'adam_ams': ('const T lr, const T beta1, const T beta2, const T eps, const T wd, const T step_size0, '
                 'const T bc2_sqrt0, const int decoupled, const int maximize, const int per_tensor',
                 'const T step_size = per_tensor ? (T)__longlong_as_double(row[6]) : step_size0; '
                 'const T bc2_sqrt = per_tensor ? (T)__longlong_as_double(row[7]) : bc2_sqrt0;',
                 'T& m = S0[j]; T& v = S1[j]; T& vmax = S2[j];',
                 _K._ADAM_BODY.replace('AMS', 'AC vh = max((AC)vmax, vi); vmax = (T)vh;')),
}


def kernel_name(kind, ctype):
    return f'ember_mt_{kind}_{ctype}'


def kernel_source(kind, ctype):
    """The CUDA C of the multi-tensor kernel ``kind`` for the C type ``ctype`` ('float' or 'double')."""
    args, pre, bind, body = _SPECS[kind]
    src = (_KERNEL.replace('NAME', kernel_name(kind, ctype)).replace('ARGS', args).replace('PRE', pre)
           .replace('BIND', bind).replace('BODY', body))
    src = src.replace('AC', ctype)  # the compute type is the storage type here (float16 never gets a table)
    return re.sub(r'\bT\b', ctype, src)


def _kernel(kind, dtype):
    ctype = _K._acc(dtype)[0]
    key = ('mt_' + kind, ctype)
    k = _K._cache.get(key)
    if k is None:
        k = _K._cache[key] = _K._cp().RawKernel(kernel_source(kind, ctype), kernel_name(kind, ctype),
                                                options=('--std=c++14',))
    return k


# ---- planning: which tensors go in a table, and the table itself ---------------------------------------------------

def _tableable(arrs):
    """The row as a table takes it, or None: the parameter and its state C-contiguous float32/float64 of one
    dtype; a gradient that is strided or of another dtype is made a contiguous copy of the parameter's dtype."""
    p, g = arrs[0], arrs[1]
    dt = p.dtype
    if dt.name not in ('float32', 'float64') or not p.flags.c_contiguous:
        return None
    for a in arrs[2:]:
        if a.dtype != dt or not a.flags.c_contiguous:
            return None
    if type(g) is not type(p) or (not isinstance(p, _np.ndarray) and g.device != p.device):
        return None  # a gradient elsewhere: the per-parameter kernel reports it
    if g.dtype != dt or not g.flags.c_contiguous:
        if g.shape != p.shape:
            return None
        xp = _np if isinstance(g, _np.ndarray) else _K._cp()
        g = xp.ascontiguousarray(g, dtype=dt)
        return (p, g) + tuple(arrs[2:])
    return arrs


def _build_table(rows, ptr, chunk, x6=None, x7=None):
    """The int64 table for ``rows`` (tuples of 2-5 arrays, param first) and its chunk count. ``ptr(a)`` is an
    array's address (an index into a registry for the NumPy emulation); ``x6``/``x7`` per-row int64 values."""
    starts, body = [], []
    total = 0
    for i, arrs in enumerate(rows):
        starts.append(total)
        numel = arrs[0].size
        body.extend(ptr(a) if a is not None else 0 for a in arrs)
        body.extend(0 for _ in range(5 - len(arrs)))
        body.append(numel)
        body.append(x6[i] if x6 is not None else 0)
        body.append(x7[i] if x7 is not None else 0)
        total += -(-numel // chunk)
    starts.append(total)
    return _np.array(starts + body, dtype=_np.int64), total


def _bits(values):
    """float64 values as the int64 bit patterns the kernel reads back with __longlong_as_double."""
    return _np.asarray(values, dtype=_np.float64).view(_np.int64).tolist()


def _device_table(cp, tab):
    key = (cp.cuda.Device().id, cp.cuda.get_current_stream().ptr, tab.tobytes())
    d = _TABLES.get(key)
    if d is None:
        d = cp.asarray(tab)  # pinned staging + async copy on the current stream: no host sync
        _TABLES[key] = d
        if len(_TABLES) > _TABLES_MAX:
            _TABLES.popitem(last=False)
    else:
        _TABLES.move_to_end(key)
    return d


def _launch(kind, rows, chunk, scalars, x6=None, x7=None):
    """Update the tensors of ``rows`` (one dtype, one device) with one launch of kernel ``kind``."""
    p0 = rows[0][0]
    if isinstance(p0, _np.ndarray):
        return _emulate(kind, rows, chunk, scalars, x6, x7)
    cp = _K._cp()
    dt = p0.dtype
    with p0.device:
        tab, total = _build_table(rows, lambda a: a.data.ptr, chunk, x6, x7)
        if total == 0:
            return
        args = tuple(_np.int32(s) if isinstance(s, (bool, _np.bool_)) else _K._f(s, dt) for s in scalars)
        _kernel(kind, dt)((total,), (BLOCK,), (_device_table(cp, tab), _np.int32(len(rows)), _np.int64(chunk))
                          + args)


def _emulate(kind, rows, chunk, scalars, x6, x7):
    """The kernel's walk in NumPy: the same table (addresses are registry indices) and block -> tensor search."""
    reg = []

    def ptr(a):
        reg.append(a.reshape(-1))  # a view: table rows are C-contiguous
        return len(reg) - 1
    tab, total = _build_table(rows, ptr, chunk, x6, x7)
    n = len(rows)
    cs, body = tab[:n + 1], tab[n + 1:].reshape(n, _ROW)
    for c in range(total):
        lo, hi = 0, n - 1  # as the kernel: the last tensor whose first chunk is <= c
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if cs[mid] <= c:
                lo = mid
            else:
                hi = mid - 1
        row = body[lo]
        start = (c - int(cs[lo])) * chunk
        end = min(start + chunk, int(row[5]))
        P, G = reg[row[0]][start:end], reg[row[1]][start:end]
        if kind == 'sgd':
            lr, wd, maximize = scalars
            _K._np_sgd(P, G, None, False, lr, 0.0, 0.0, wd, False, maximize)
        elif kind == 'sgd_mom':
            lr, wd, momentum, dampening, nesterov, maximize = scalars
            _K._np_sgd(P, G, reg[row[2]][start:end], bool(row[6]), lr, momentum, dampening, wd, nesterov, maximize)
        else:
            lr, beta1, beta2, eps, wd, step_size, bc2_sqrt, decoupled, maximize, per_tensor = scalars
            if per_tensor:
                step_size, bc2_sqrt = _np.array(row[6:8]).view(_np.float64).tolist()
            vmax = reg[row[4]][start:end] if kind == 'adam_ams' else None
            _K._np_adam(P, G, reg[row[2]][start:end], reg[row[3]][start:end], vmax, lr, beta1, beta2, eps, wd,
                        decoupled, step_size, bc2_sqrt, maximize)


def _split(rows):
    """(groups of table rows keyed by dtype and device, indices of the rows that go one by one); rows whose
    gradient needed a contiguous copy are replaced in ``rows``."""
    groups, single = {}, []
    for i, arrs in enumerate(rows):
        arrs = _tableable(arrs)
        if arrs is not None:
            rows[i] = arrs
            p = arrs[0]
            key = (p.dtype.name, None if isinstance(p, _np.ndarray) else p.device.id)
            groups.setdefault(key, []).append(i)
        else:
            single.append(i)
    return groups, single


def _has_duplicates(params):
    ids = {id(p) for p in params}
    return len(ids) != len(params)


# ---- entry points -----------------------------------------------------------------------------------------------

def sgd_(params, grads, momentum_buffers, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
         maximize=False, first=False, chunk=CHUNK):
    """SGD on lists of arrays in place, one launch per dtype and device (see the module docstring).

    ``momentum_buffers``: one array per parameter (None entries are made, and count as first steps), or None when
    ``momentum`` is 0; ``first``: a bool, or one per parameter. Returns the buffers (None when momentum is 0)."""
    n = len(params)
    firsts = list(first) if isinstance(first, (list, tuple)) else [bool(first)] * n
    bufs = None
    if momentum:
        bufs = list(momentum_buffers) if momentum_buffers is not None else [None] * n
        for i, b in enumerate(bufs):
            if b is None:
                p = params[i]
                bufs[i] = (_np if isinstance(p, _np.ndarray) else _K._cp()).empty_like(p)
                firsts[i] = True
    if _has_duplicates(params):
        for i in range(n):
            _K.fused_sgd_([params[i]], [grads[i]], [bufs[i]] if bufs else None, lr, momentum, dampening,
                          weight_decay, nesterov, maximize, first=firsts[i])
        return bufs
    rows = [(params[i], grads[i], bufs[i]) if bufs else (params[i], grads[i]) for i in range(n)]
    groups, single = _split(rows)
    for idx in groups.values():
        sub = [rows[i] for i in idx]
        if momentum:
            _launch('sgd_mom', sub, chunk, (lr, weight_decay, momentum, dampening, bool(nesterov), bool(maximize)),
                    x6=[int(bool(firsts[i])) for i in idx])
        else:
            _launch('sgd', sub, chunk, (lr, weight_decay, bool(maximize)))
    for i in single:
        _K.fused_sgd_([params[i]], [grads[i]], [bufs[i]] if bufs else None, lr, momentum, dampening, weight_decay,
                      nesterov, maximize, first=firsts[i])
    return bufs


def adam_(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
          decoupled=False, amsgrad=False, max_exp_avg_sqs=None, maximize=False, chunk=CHUNK):
    """Adam / AdamW on lists of arrays in place, one launch per dtype and device (see the module docstring).

    ``steps``: the step number after incrementing, for all parameters or one per parameter."""
    n = len(params)
    steps = [float(s) for s in steps] if isinstance(steps, (list, tuple)) else [float(steps)] * n
    if _has_duplicates(params):
        for i in range(n):
            _K.fused_adam_([params[i]], [grads[i]], [exp_avgs[i]], [exp_avg_sqs[i]], steps[i], lr, beta1, beta2, eps,
                           weight_decay, decoupled, amsgrad, [max_exp_avg_sqs[i]] if amsgrad else None, maximize)
        return
    if amsgrad:
        rows = [(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], max_exp_avg_sqs[i]) for i in range(n)]
    else:
        rows = [(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i]) for i in range(n)]
    groups, single = _split(rows)
    kind = 'adam_ams' if amsgrad else 'adam'
    for idx in groups.values():
        sub = [rows[i] for i in idx]
        st = [steps[i] for i in idx]
        s0 = st[0]
        uniform = all(s == s0 for s in st)
        step_sizes = [lr / (1.0 - beta1 ** s) for s in st]
        bc2 = [math.sqrt(1.0 - beta2 ** s) for s in st]
        x6 = x7 = None
        if not uniform:
            x6, x7 = _bits(step_sizes), _bits(bc2)
        _launch(kind, sub, chunk, (lr, beta1, beta2, eps, weight_decay, step_sizes[0], bc2[0], bool(decoupled),
                                   bool(maximize), not uniform), x6, x7)
    for i in single:
        _K.fused_adam_([params[i]], [grads[i]], [exp_avgs[i]], [exp_avg_sqs[i]], steps[i], lr, beta1, beta2, eps,
                       weight_decay, decoupled, amsgrad, [max_exp_avg_sqs[i]] if amsgrad else None, maximize)
