"""PyTorch's float32 Box-Muller blocks bit for bit: single-precision Cephes logf/sincosf with fused multiply-adds.

PyTorch turns each block of 16 float32 uniforms into 8 pairs (u1 = 1 - first eight, theta = 2 pi * last eight,
radius = sqrt(-2 log u1), cos into the first half, sin into the second) with single-precision log and sin/cos
polynomials whose multiplies feed their adds fused (measured against torch, see tests/test_rng.py). The polynomials
and range reductions are the classic Cephes ones; their coefficients are the published single-precision Cephes
constants (Cephes Math Library 2.x by Stephen L. Moshier, files single/logf.c and single/sinf.c), listed below.

Speed: a fused multiply-add is emulated exactly in float64 (the product of two float32 values is exact there, the
sum is then rounded to float32), which costs four array passes. Every step whose product is exact in float32 anyway
(a small integer times a short constant, a halving) is done as plain float32 arithmetic instead, and every array is
preallocated once per chunk, so the whole computation is a fixed sequence of in-place ufunc calls.
"""
import math
import os

import numpy as np

__all__ = ['box_muller16_f32']

_f32, _f64, _i32 = np.float32, np.float64, np.int32

# Cephes single/logf.c: log(1 + x) = x - x**2/2 + x**3 * P(x) for x in [sqrt(1/2) - 1, sqrt(2) - 1)
_LOG_P = tuple(_f64(_f32(p)) for p in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
    2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1))
_LOG_Q1, _LOG_Q2 = _f32(-2.12194440e-4), _f32(0.693359375)  # log(2) split: q2 (9 bits, exact products) + q1
_SQRTHF_BITS = 0x3F3504F3  # float32(sqrt(1/2)) = 0.707106781186547524: mantissas below it take the next exponent
# Cephes single/sinf.c: pi/4 in three parts (DP1, DP2 short, so j * DP1 and j * DP2 are exact), 4/pi (FOPI),
# and the sine and cosine polynomials on [-pi/4, pi/4]
_DP1, _DP2, _DP3 = _f32(-0.78515625), _f32(-2.4187564849853515625e-4), _f64(_f32(-3.77489497744594108e-8))
_FOPI = _f32(1.27323954473516)
_SIN = tuple(_f64(_f32(p)) for p in (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1))
_COS = tuple(_f64(_f32(p)) for p in (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2))
_TWO_PI = _f32(2.0 * math.pi)


class _Work:
    """Preallocated arrays for ``k`` pairs (allocating per operation costs as much as the maths)."""

    def __init__(self, k):
        self.k = k
        self.f = [np.empty(k, _f32) for _ in range(8)]
        self.d = [np.empty(k, _f64) for _ in range(4)]
        self.i = [np.empty(k, _i32) for _ in range(2)]


def _horner(acc32, acc64, x64, coefs):
    """acc32 = fma(...fma(fma(x, c0, c1), x, c2)..., x, cn) in float32, each fma exact through float64."""
    np.multiply(x64, coefs[0], out=acc64)
    acc64 += coefs[1]
    for c in coefs[2:]:
        np.copyto(acc32, acc64, casting='same_kind')  # the float32 rounding of the fused result
        np.copyto(acc64, acc32)
        acc64 *= x64   # exact: two float32 operands
        acc64 += c
    np.copyto(acc32, acc64, casting='same_kind')


def _fma_add64(dst32, a32, b64, c64, t64):
    """dst32 = fma(a, b, c) for float32 a (b and c given as float64 arrays holding float32 values)."""
    np.copyto(t64, a32)
    t64 *= b64
    t64 += c64
    np.copyto(dst32, t64, casting='same_kind')


def _rows(b, mean, std, w):
    """Blocks of 16 float32 uniforms (rows of ``b``) into normals, in place."""
    k = b.shape[0] * 8
    f = [a[:k] for a in w.f]
    d = [a[:k] for a in w.d]
    ii = [a[:k] for a in w.i]
    x, e, z, y, th, c, s, r = f
    x64, z64, y64, t64 = d
    bits, j = ii
    # ---- radius = sqrt(-2 logf(1 - u)) --------------------------------------------------------------------------
    np.subtract(_f32(1.0), b[:, :8], out=x.reshape(-1, 8))
    # Cephes' reduction x = m * 2**e, m in [sqrt(1/2), sqrt(2)), by integer arithmetic on the bits
    np.subtract(x.view(_i32), _SQRTHF_BITS, out=bits)
    np.right_shift(bits, 23, out=j)
    np.copyto(e, j, casting='unsafe')        # the exponent (exact in float32)
    bits &= 0x7FFFFF
    bits += _SQRTHF_BITS
    np.subtract(bits.view(_f32), _f32(1.0), out=x)  # exact (Sterbenz)
    np.multiply(x, x, out=z)
    np.copyto(x64, x)
    np.copyto(z64, z)
    _horner(y, y64, x64, _LOG_P)
    y *= x                                   # an unfused float32 multiply in the reference
    np.multiply(e, _LOG_Q1, out=c)           # e * q1, rounded
    np.copyto(t64, c)
    _fma_add64(y, y, z64, t64, y64)         # y = fma(y, z, e * q1)
    np.multiply(z, _f32(-0.5), out=c)        # fma(z, -0.5, y): the product is exact
    y += c
    x += y
    np.multiply(e, _LOG_Q2, out=c)           # fma(e, q2, x): the product is exact
    c += x
    c *= _f32(-2.0)
    np.sqrt(c, out=r)                        # r: the radius
    # ---- sin and cos of theta = 2 pi u2 (theta >= 0) --------------------------------------------------------------
    np.multiply(b[:, 8:], _TWO_PI, out=th.reshape(-1, 8))
    np.multiply(th, _FOPI, out=y)
    np.copyto(j, y, casting='unsafe')        # truncation toward zero
    j += 1
    j &= ~1                                  # the even octant index
    np.copyto(e, j, casting='unsafe')
    np.multiply(e, _DP1, out=c)              # th - j * pi/4 in three parts; the first two products are exact
    th += c
    np.multiply(e, _DP2, out=c)
    th += c
    np.copyto(x64, e)
    x64 *= _DP3
    np.copyto(t64, th)
    x64 += t64
    np.copyto(th, x64, casting='same_kind')  # th: the reduced angle
    np.multiply(th, th, out=z)
    np.copyto(z64, z)
    # cosine: 1 + fma(c, z, -z/2) with c = (fma(fma(z, c0, c1), z, c2)) * z
    _horner(c, y64, z64, _COS)
    c *= z
    np.multiply(z64, -0.5, out=t64)
    _fma_add64(c, c, z64, t64, y64)
    c += _f32(1.0)
    # sine: fma(s, th, th) with s = (fma(fma(z, s0, s1), z, s2)) * z
    _horner(s, y64, z64, _SIN)
    s *= z
    np.copyto(t64, th)
    np.copyto(x64, th)
    _fma_add64(s, s, x64, t64, y64)
    # octants 2 and 6 (mod 8) swap the polynomials; the sine's sign flips from octant 4 on, the cosine's in 2..5
    sb, cb, tmp = s.view(_i32), c.view(_i32), bits
    np.bitwise_xor(sb, cb, out=tmp)
    sel = y.view(_i32)
    np.right_shift(j, 1, out=sel)
    sel &= 1
    np.negative(sel, out=sel)
    tmp &= sel
    sb ^= tmp
    cb ^= tmp
    np.bitwise_and(j, 4, out=tmp)
    tmp <<= 29
    sb ^= tmp
    j -= 2
    np.invert(j, out=j)
    j &= 4
    j <<= 29
    cb ^= j
    c *= r
    s *= r
    if (mean, std) != (0.0, 1.0):  # a fused z * std + mean
        m, sd = _f64(_f32(mean)), _f64(_f32(std))
        for v in (c, s):
            np.copyto(t64, v)
            t64 *= sd
            t64 += m
            np.copyto(v, t64, casting='same_kind')
    b[:, :8] = c.reshape(-1, 8)
    b[:, 8:] = s.reshape(-1, 8)


_CHUNK = 8192  # blocks of 16 per chunk (64 Ki pairs: the work arrays stay in the second-level cache)
_LOCAL = {'pid': None, 'pool': None, 'n': None, 'work': {}}


def threads():
    """Worker threads for the float32 blocks: the cores this process may use, at most 8."""
    if _LOCAL['n'] is None:
        try:
            _LOCAL['n'] = min(8, len(os.sched_getaffinity(0)))
        except AttributeError:
            _LOCAL['n'] = min(8, os.cpu_count() or 1)
    return _LOCAL['n']


def _pool(n):
    """A thread pool of ``n`` workers, made afresh after a fork (a forked child cannot use its parent's threads)."""
    if _LOCAL['pool'] is None or _LOCAL['pid'] != os.getpid() or _LOCAL['pool']._max_workers != n:
        from concurrent.futures import ThreadPoolExecutor
        _LOCAL['pool'], _LOCAL['pid'] = ThreadPoolExecutor(n, thread_name_prefix='ember-rng'), os.getpid()
        _LOCAL['work'] = {}
    return _LOCAL['pool']


def _work():
    """This thread's work arrays (one set per thread, kept between calls)."""
    import threading
    key = threading.get_ident()
    w = _LOCAL['work'].get(key)
    if w is None:
        w = _LOCAL['work'][key] = _Work(_CHUNK * 8)
    return w


def box_muller16_f32(d, mean=0.0, std=1.0, fill=None):
    """Turn the whole blocks of 16 in the float32 array ``d`` into normals, in place. With ``fill``, ``d`` is empty
    and ``fill(part)`` writes the uniforms of each part in order first: drawing the next part overlaps the maths of
    the previous ones on the worker threads (NumPy's generators and loops release the GIL)."""
    rows = d.size // 16
    blocks = d[:rows * 16].reshape(-1, 16)
    starts = range(0, rows, _CHUNK)
    workers = min(threads(), len(starts))
    if workers > 1:
        pool = _pool(workers)
        jobs = []
        for i in starts:
            part = blocks[i:i + _CHUNK]
            if fill is not None:
                fill(part.reshape(-1))
            jobs.append(pool.submit(lambda p: _rows(p, mean, std, _work()), part))
        for job in jobs:
            job.result()
        return
    if _LOCAL['pid'] != os.getpid():
        _LOCAL['pid'], _LOCAL['pool'], _LOCAL['work'] = os.getpid(), None, {}
    w = _work()
    for i in starts:
        part = blocks[i:i + _CHUNK]
        if fill is not None:
            fill(part.reshape(-1))
        _rows(part, mean, std, w)
