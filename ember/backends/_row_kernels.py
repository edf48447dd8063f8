"""Row-wise CUDA kernels (softmax cross-entropy, LayerNorm), one thread block per row; LayerNorm's take NumPy arrays
too (its reference), cross entropy's NumPy form is ember/ops/class_loss.py."""
import numpy as _np

from .cuda_kernels import _cp, _f, _raw


# ==== row-wise kernels: one thread block per row, block sizes a power of two =========================================

_ROW_PREAMBLE = r'''
#define EMBER_INF __longlong_as_double(0x7ff0000000000000ULL)
#define EMBER_NAN __longlong_as_double(0x7ff8000000000000ULL)
__device__ __forceinline__ T ember_block_sum(T v, T* sm) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sm[threadIdx.x] += sm[threadIdx.x + s];
        __syncthreads();
    }
    T r = sm[0];
    __syncthreads();
    return r;
}
__device__ __forceinline__ T ember_block_max(T v, T* sm) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            T o = sm[threadIdx.x + s];
            if (o > sm[threadIdx.x] || o != o) sm[threadIdx.x] = o;  /* NaN wins, as in max() */
        }
        __syncthreads();
    }
    T r = sm[0];
    __syncthreads();
    return r;
}
'''


def _block(n):
    b = 32
    while b < n and b < 256:
        b *= 2
    return b


# ---- softmax + cross entropy (class indices) ------------------------------------------------------------------------
# The arithmetic of rows_forward / rows_backward in ember/ops/class_loss.py (the formulas are written there; on NumPy
# arrays those are the cpu path, and tests/test_cuda_kernels.py compares these kernels with them on a GPU).
# An out-of-range target (not ignore_index) gives a NaN row, where PyTorch's cuda kernel asserts.

_XENT_FWD = r'''
extern "C" __global__ void ember_xent_fwd_T(const T* __restrict__ x, const long long* __restrict__ tgt,
        const T* __restrict__ w, const int has_w, const long long M, const int C, const long long ignore_index,
        const T eps, T* __restrict__ loss, T* __restrict__ wv, T* __restrict__ lse_out) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * (long long)C;
    T m = (T)-EMBER_INF;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T v = xr[c];
        if (v > m || v != v) m = v;
    }
    m = ember_block_max(m, sm);
    const T shift = isinf(m) ? (T)0 : m;
    T s = 0, sx = 0, sw = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T v = xr[c];
        s += exp(v - shift);
        if (eps > (T)0) {
            T wc = has_w ? w[c] : (T)1;
            sx += wc * v;
            sw += wc;
        }
    }
    s = ember_block_sum(s, sm);
    if (eps > (T)0) {
        sx = ember_block_sum(sx, sm);
        sw = ember_block_sum(sw, sm);
    }
    if (threadIdx.x == 0) {
        const T lse = log(s) + shift;
        const long long t = tgt[r];
        lse_out[r] = lse;
        if (t == ignore_index) {
            loss[r] = (T)0;
            wv[r] = (T)0;
        } else if (t < 0 || t >= C) {
            loss[r] = (T)EMBER_NAN;
            wv[r] = (T)EMBER_NAN;
        } else {
            const T wt = has_w ? w[t] : (T)1;
            T per = ((T)1 - eps) * wt * (lse - xr[t]);
            if (eps > (T)0) per += eps / (T)C * (sw * lse - sx);
            loss[r] = per;
            wv[r] = wt;
        }
    }
}
'''

_XENT_BWD = r'''
extern "C" __global__ void ember_xent_bwd_T(const T* __restrict__ x, const long long* __restrict__ tgt,
        const T* __restrict__ w, const int has_w, const long long M, const int C, const long long ignore_index,
        const T eps, const T* __restrict__ lse, const T* __restrict__ scale, const long long scale_stride,
        T* __restrict__ dx) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * (long long)C;
    T* dr = dx + r * (long long)C;
    const long long t = tgt[r];
    const bool valid = t != ignore_index;
    const bool inrange = t >= 0 && t < C;
    T W = (T)C;
    if (eps > (T)0 && has_w) {
        T sw = 0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) sw += w[c];
        W = ember_block_sum(sw, sm);
    }
    if (valid && !inrange) {
        for (int c = threadIdx.x; c < C; c += blockDim.x) dr[c] = (T)EMBER_NAN;
        return;
    }
    const T g = scale[r * scale_stride];
    const T wt = valid ? (has_w ? w[t] : (T)1) : (T)0;
    const T vf = valid ? (T)1 : (T)0;
    const T coef = ((T)1 - eps) * wt;
    const T rowc = coef + eps / (T)C * W * vf;
    const T l = lse[r];
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T d = exp(xr[c] - l) * rowc;
        if (c == t) d -= coef;
        if (eps > (T)0) d -= eps / (T)C * vf * (has_w ? w[c] : (T)1);
        dr[c] = d * g;
    }
}
'''


def softmax_xent_forward(x2, t, w=None, ignore_index=-100, eps=0.0):
    """Rows (M, C) of logits against int64 targets (M,): (per-row loss, per-row weight, per-row logsumexp)."""
    cp = _cp()
    x2 = cp.ascontiguousarray(x2)
    M, C = x2.shape
    dt = x2.dtype
    t = cp.ascontiguousarray(t, dtype=_np.int64)
    loss, wv, lse = cp.empty(M, dt), cp.empty(M, dt), cp.empty(M, dt)
    if M:
        wd = cp.ascontiguousarray(w, dtype=dt) if w is not None else cp.empty(1, dt)
        b = _block(C)
        _raw('ember_xent_fwd', _XENT_FWD, dt)((M,), (b,), (x2, t, wd, _np.int32(w is not None), _np.int64(M),
                                                         _np.int32(C), _np.int64(ignore_index), _f(eps, dt),
                                                         loss, wv, lse), shared_mem=b * dt.itemsize)
    return loss, wv, lse


def softmax_xent_backward(x2, t, lse, scale, w=None, ignore_index=-100, eps=0.0):
    """The (M, C) gradient of the per-row losses times ``scale`` (an (M,) array, or a 0-d/1-element one for all)."""
    cp = _cp()
    x2 = cp.ascontiguousarray(x2)
    M, C = x2.shape
    dt = x2.dtype
    dx = cp.empty((M, C), dt)
    if M:
        t = cp.ascontiguousarray(t, dtype=_np.int64)
        # an ignored row's gradient is 0 even for an inf/nan scale (the mean's 1 / 0 when every target is ignored),
        # as on cpu (class_loss.rows_backward) and in PyTorch: its scale is made 0 before the kernel multiplies by it
        sc = cp.where(t != ignore_index, cp.ascontiguousarray(scale, dtype=dt).reshape(-1), dt.type(0))
        stride = 1 if sc.size == M and M != 1 else 0
        wd = cp.ascontiguousarray(w, dtype=dt) if w is not None else cp.empty(1, dt)
        b = _block(C)
        _raw('ember_xent_bwd', _XENT_BWD, dt)((M,), (b,), (x2, t, wd, _np.int32(w is not None), _np.int64(M),
                                                         _np.int32(C), _np.int64(ignore_index), _f(eps, dt),
                                                         cp.ascontiguousarray(lse), sc, _np.int64(stride), dx),
                                              shared_mem=b * dt.itemsize)
    return dx


# ---- LayerNorm over the last N elements of each row -----------------------------------------------------------------

_LN_FWD = r'''
extern "C" __global__ void ember_ln_fwd_T(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
        const int has_w, const int has_b, const long long M, const long long N, const T eps, T* __restrict__ y,
        T* __restrict__ mean_out, T* __restrict__ rstd_out) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * N;
    T* yr = y + r * N;
    T s = 0;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) s += xr[c];
    const T mean = ember_block_sum(s, sm) / (T)N;
    T q = 0;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        T d = xr[c] - mean;
        q += d * d;
    }
    const T var = ember_block_sum(q, sm) / (T)N;
    const T rstd = (T)1 / sqrt(var + eps);
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        T v = (xr[c] - mean) * rstd;
        if (has_w) v *= w[c];
        if (has_b) v += b[c];
        yr[c] = v;
    }
    if (threadIdx.x == 0) {
        mean_out[r] = mean;
        rstd_out[r] = rstd;
    }
}
'''

_LN_BWD = r'''
extern "C" __global__ void ember_ln_bwd_T(const T* __restrict__ x, const T* __restrict__ g, const T* __restrict__ w,
        const int has_w, const T* __restrict__ mean, const T* __restrict__ rstd, const long long M, const long long N,
        T* __restrict__ dx, T* __restrict__ gxhat, const int want_gxhat) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * N;
    const T* gr = g + r * N;
    const T m = mean[r], rs = rstd[r];
    T a = 0, bsum = 0;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        T gw = has_w ? gr[c] * w[c] : gr[c];
        a += gw;
        bsum += gw * (xr[c] - m) * rs;
    }
    a = ember_block_sum(a, sm) / (T)N;
    bsum = ember_block_sum(bsum, sm) / (T)N;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        const T xh = (xr[c] - m) * rs;
        const T gw = has_w ? gr[c] * w[c] : gr[c];
        dx[r * N + c] = rs * (gw - a - xh * bsum);
        if (want_gxhat) gxhat[r * N + c] = gr[c] * xh;
    }
}
'''


def layer_norm_forward(x2, w=None, b=None, eps=1e-5):
    """Rows (M, N): (y, mean (M,), rstd (M,)) with y = (x - mean) * rstd * w + b."""
    if isinstance(x2, _np.ndarray):
        x = x2.astype(_np.float64)
        mean = x.mean(axis=1)
        rstd = 1.0 / _np.sqrt(((x - mean[:, None]) ** 2).mean(axis=1) + eps)
        y = (x - mean[:, None]) * rstd[:, None]
        if w is not None:
            y = y * w.reshape(-1)
        if b is not None:
            y = y + b.reshape(-1)
        return y.astype(x2.dtype), mean.astype(x2.dtype), rstd.astype(x2.dtype)
    cp = _cp()
    x2 = cp.ascontiguousarray(x2)
    M, N = x2.shape
    dt = x2.dtype
    y, mean, rstd = cp.empty((M, N), dt), cp.empty(M, dt), cp.empty(M, dt)
    if M and N:
        dummy = cp.empty(1, dt)
        wd = cp.ascontiguousarray(w, dtype=dt).reshape(-1) if w is not None else dummy
        bd = cp.ascontiguousarray(b, dtype=dt).reshape(-1) if b is not None else dummy
        blk = _block(N)
        _raw('ember_ln_fwd', _LN_FWD, dt)((M,), (blk,), (x2, wd, bd, _np.int32(w is not None),
                                                        _np.int32(b is not None), _np.int64(M), _np.int64(N),
                                                        _f(eps, dt), y, mean, rstd), shared_mem=blk * dt.itemsize)
    return y, mean, rstd


def layer_norm_backward(g2, x2, mean, rstd, w=None, want_w=True, want_b=True):
    """Gradients (dx (M, N), dw (N,) or None, db (N,) or None) of layer_norm_forward's y."""
    if isinstance(x2, _np.ndarray):
        x, g = x2.astype(_np.float64), g2.astype(_np.float64)
        xh = (x - mean.astype(_np.float64)[:, None]) * rstd.astype(_np.float64)[:, None]
        gw = g * w.reshape(-1) if w is not None else g
        dx = rstd.astype(_np.float64)[:, None] * (gw - gw.mean(axis=1, keepdims=True) -
                                                  xh * (gw * xh).mean(axis=1, keepdims=True))
        dt = x2.dtype
        return (dx.astype(dt), (g * xh).sum(axis=0).astype(dt) if want_w else None,
                g.sum(axis=0).astype(dt) if want_b else None)
    cp = _cp()
    x2, g2 = cp.ascontiguousarray(x2), cp.ascontiguousarray(g2, dtype=x2.dtype)
    M, N = x2.shape
    dt = x2.dtype
    dx = cp.empty((M, N), dt)
    gx = cp.empty((M, N), dt) if want_w else cp.empty(1, dt)
    if M and N:
        wd = cp.ascontiguousarray(w, dtype=dt).reshape(-1) if w is not None else cp.empty(1, dt)
        blk = _block(N)
        _raw('ember_ln_bwd', _LN_BWD, dt)((M,), (blk,), (x2, g2, wd, _np.int32(w is not None), mean, rstd,
                                                        _np.int64(M), _np.int64(N), dx, gx, _np.int32(want_w)),
                                          shared_mem=blk * dt.itemsize)
    dw = gx.sum(axis=0) if want_w else None
    db = g2.sum(axis=0) if want_b else None
    return dx, dw, db
