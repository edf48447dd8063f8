"""PyTorch's CPU random streams, reproduced bit for bit on NumPy's MT19937 (legacy seeding), vectorised.

Everything here was measured against torch (see tests/test_rng.py), not taken from its source:
- the generator is a 32-bit Mersenne Twister seeded like ``numpy.random.RandomState(seed & 0xffffffff)``;
- a float32 uniform is the low 24 bits of one 32-bit output times 2**-24 (float16/bfloat16: that float32, rounded);
  a float64 uniform is the low 53 bits of two outputs (the first one the high word) times 2**-53;
- ``normal_`` on 16 or more elements fills the tensor with uniforms and turns each block of 16 into 8 Box-Muller
  pairs (u1 = 1 - first eight, u2 = last eight; cos into the first half, sin into the second); a size that is not
  a multiple of 16 redraws 16 fresh uniforms for the last 16 elements. float32 uses single-precision Cephes-style
  log/sincos polynomials with fused multiply-adds (emulated exactly below); float64 uses libm (Python's math).
  float16 draws uniforms for the whole blocks only and computes in float32 with libm's functions. Under 16
  elements (and for non-contiguous tensors) each value comes from a scalar double Box-Muller, u2 = the second
  uniform of the pair in sqrt(-2 log1p(-u2)), whose sine half is cached in the generator (and its state tensor);
- ``uniform_(a, b)`` is a fused u * (b - a) + a; ``bernoulli_(p)``, exponential_, geometric_, cauchy_, log_normal_
  and multinomial draw float64 uniforms (or scalar normals) whatever the dtype;
- integer ranges take one 32-bit output modulo the range below 2**28, else a 64-bit one; randperm is a forward
  Fisher-Yates swap with one 32-bit output per step.
The single-precision log/sincos emulation follows the classic Cephes polynomial evaluation (published
coefficients), with the operation order and fusions found by comparing against torch's outputs.
"""
import math
import os

import numpy as np

__all__ = ['MTStream', 'STATE_SIZE']

STATE_SIZE = 5056  # bytes of torch.get_rng_state()
_N = 624
_f32 = np.float32


class MTStream:
    """One CPU generator: the Mersenne Twister plus the scalar-normal cache PyTorch keeps beside it."""

    def __init__(self, seed=67280421310721):
        self.manual_seed(seed)

    def manual_seed(self, seed):
        self.initial_seed = int(seed)
        bg = np.random.MT19937(0)
        bg._legacy_seeding(self.initial_seed & 0xFFFFFFFF)
        self._bg = bg
        self._ints = np.random.Generator(bg)
        self._fresh = True           # just seeded: the state tensor says next=0 though no output is used yet
        self.normal_cache = None     # the cached sine half of a scalar double Box-Muller pair
        self._float_cache = bytes(8)  # PyTorch's float-normal cache bytes (never used by the functions here)

    # ---- raw outputs --------------------------------------------------------------------------------------------
    def u32(self, n):
        """The next ``n`` 32-bit outputs."""
        n = int(n)
        if n == 0:
            return np.empty(0, np.uint32)
        self._fresh = False
        return self._ints.integers(0, 1 << 32, size=n, dtype=np.uint32)

    def u64(self, n):
        """The next ``n`` 64-bit values (two outputs each, the first one the high word)."""
        r = self.u32(2 * n).astype(np.uint64)
        return (r[0::2] << np.uint64(32)) | r[1::2]

    def f24(self, n):
        """``n`` float32 uniforms in [0, 1)."""
        r = self.u32(n)
        r &= 0xFFFFFF
        out = r.astype(_f32)
        out *= _f32(2.0 ** -24)
        return out

    def d53(self, n):
        """``n`` float64 uniforms in [0, 1)."""
        r = self.u32(2 * n)
        hi = (r[0::2] & 0x1FFFFF).astype(np.float64)
        hi *= 4294967296.0
        hi += r[1::2]
        hi *= 2.0 ** -53
        return hi

    # ---- the state tensor ---------------------------------------------------------------------------------------
    def get_state(self):
        """PyTorch's 5056-byte CPU state: seed, left, seeded, next, the 624 words (as uint64), the normal caches."""
        st = self._bg.state['state']
        pos = int(st['pos'])
        buf = bytearray(STATE_SIZE)
        nxt = 0 if self._fresh else pos
        left = 1 if pos >= _N else _N - pos + 1
        buf[0:8] = (self.initial_seed & ((1 << 64) - 1)).to_bytes(8, 'little')
        buf[8:12] = left.to_bytes(4, 'little')
        buf[12:16] = (1).to_bytes(4, 'little')
        buf[16:24] = nxt.to_bytes(8, 'little')
        buf[24:24 + 8 * _N] = np.asarray(st['key'], np.uint64).astype('<u8').tobytes()
        if self.normal_cache is not None:
            buf[5024:5032] = np.float64(self.normal_cache).tobytes()
            buf[5040:5044] = (1).to_bytes(4, 'little')
        buf[5048:5056] = self._float_cache
        return bytes(buf)

    def set_state(self, raw):
        raw = bytes(raw)
        if len(raw) != STATE_SIZE:
            raise RuntimeError(f'Expected either a THGeneratorState of size 5048 or a CPUGeneratorImplState of size '
                               f'{STATE_SIZE} but found the input RNG state size to be {len(raw)}')
        seed = int.from_bytes(raw[0:8], 'little')
        left = int.from_bytes(raw[8:12], 'little', signed=True)
        nxt = int.from_bytes(raw[16:24], 'little')
        key = np.frombuffer(raw[24:24 + 8 * _N], '<u8').astype(np.uint32)
        pos = _N if left <= 1 else _N - left + 1
        self._bg.state = {'bit_generator': 'MT19937', 'state': {'key': key, 'pos': pos}}
        self.initial_seed = seed
        self._fresh = nxt == 0 and pos >= _N
        valid = int.from_bytes(raw[5040:5044], 'little') != 0
        self.normal_cache = float(np.frombuffer(raw[5024:5032], np.float64)[0]) if valid else None
        self._float_cache = raw[5048:5056]

    # ---- uniform floats ------------------------------------------------------------------------------------------
    def uniform(self, n, dtype, low=0.0, high=1.0):
        """``n`` uniforms in [low, high) of ``dtype`` (a NumPy float dtype), as ``uniform_`` makes them."""
        dt = np.dtype(dtype)
        if dt == np.float64:
            u = self.d53(n)
            return u if (low, high) == (0.0, 1.0) else _fma64(u, float(high) - float(low), float(low))
        u = self.f24(n)
        if (low, high) != (0.0, 1.0):  # a fused u * (high - low) + low, the bounds rounded to float32 first
            u = _fma32(u, np.float64(_f32(high) - _f32(low)), np.float64(_f32(low)))
        u = u.astype(dt, copy=False)
        if dt != np.float32:  # a value rounded up to ``high`` in a narrower dtype becomes ``low``, as in PyTorch
            u[u >= dt.type(high)] = dt.type(low)
        return u

    # ---- normals --------------------------------------------------------------------------------------------------
    def scalar_normals(self, n):
        """``n`` float64 standard normals from the scalar path (Box-Muller pairs, sine half cached)."""
        out = np.empty(n, np.float64)
        i = 0
        if n and self.normal_cache is not None:
            out[0], self.normal_cache, i = self.normal_cache, None, 1
        pairs = (n - i + 1) // 2
        if pairs:
            u = self.d53(2 * pairs)
            u1, u2 = u[0::2], u[1::2]
            r = np.sqrt(-2.0 * _libm(math.log1p, -u2))
            th = 2.0 * math.pi * u1
            z = np.empty(2 * pairs, np.float64)
            z[0::2] = r * np.cos(th)
            z[1::2] = r * np.sin(th)
            out[i:] = z[:n - i]
            if (n - i) % 2:
                self.normal_cache = float(z[-1])
        return out

    def normal(self, n, dtype, mean=0.0, std=1.0):
        """``n`` normals of ``dtype`` as ``normal_(mean, std)`` fills a contiguous tensor."""
        dt = np.dtype(dtype)
        if n < 16:
            z = self.scalar_normals(n)
            if (mean, std) != (0.0, 1.0):
                z = _fma64(z, float(std), float(mean))
            return z.astype(dt, copy=False)
        if dt == np.float64:
            out = self.d53(n)
            _box_muller16_f64(out, mean, std, 0)
            if n % 16:
                tail = self.d53(16)
                _box_muller16_f64(tail, mean, std, 0)
                out[n - 16:] = tail
            return out
        if dt != np.float32:  # float16: float32 uniforms for the whole blocks only, scalar float32 maths (libm)
            out = np.empty(n, _f32)
            out[:n // 16 * 16] = self.f24(n // 16 * 16)
            _box_muller16_half(out, mean, std)
            if n % 16:
                tail = self.f24(16)
                _box_muller16_half(tail, mean, std)
                out[n - 16:] = tail
            return out.astype(dt)
        out = self.f24(n)
        _box_muller16_f32(out, mean, std)
        if n % 16:
            tail = self.f24(16)
            _box_muller16_f32(tail, mean, std)
            out[n - 16:] = tail
        return out

    # ---- integers ---------------------------------------------------------------------------------------------
    def randint(self, n, low, high):
        """``n`` integers in [low, high) (int64)."""
        rng = int(high) - int(low)
        if rng <= 0:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        if rng < 1 << 28:
            r = self.u32(n).astype(np.int64)
            r %= rng
        else:
            r = self.u64(n)
            r %= np.uint64(rng)
            r = r.astype(np.int64)
        r += int(low)
        return r

    def randperm(self, n):
        """PyTorch's permutation of range(n): a forward Fisher-Yates with one 32-bit output per step."""
        n = int(n)
        if n < 2:
            return np.arange(n, dtype=np.int64)
        r = self.u32(n - 1).astype(np.int64)
        r %= np.arange(n, 1, -1, dtype=np.int64)
        r += np.arange(n - 1, dtype=np.int64)
        p = list(range(n))
        for i, j in enumerate(r.tolist()):  # inherently sequential: each swap depends on the previous ones
            p[i], p[j] = p[j], p[i]
        return np.array(p, dtype=np.int64)


# ---- exact libm (float64) ---------------------------------------------------------------------------------------
# NumPy's own SIMD log/log1p/exp/tan differ from libm's in the last bit for a fraction of a percent of inputs;
# PyTorch's double paths use libm, so float64 results go through Python's math (libm) element by element.

def libm_log(x):
    return _libm(math.log, x)


def _libm(fn, x):
    x = np.asarray(x, np.float64)
    return np.fromiter(map(fn, x.ravel().tolist()), np.float64, count=x.size).reshape(x.shape)


def exact(np_fn, math_fn, x, dtype):
    """``fn(x)`` in float64, libm-exact when the result stays float64 (a last-bit difference in float64 almost
    never survives rounding to float32, so NumPy's vectorised function serves there)."""
    if np.dtype(dtype) == np.float64:
        return _libm(math_fn, x)
    return np_fn(np.asarray(x, np.float64))


# ---- the 16-element Box-Muller blocks ------------------------------------------------------------------------------

def _fma64(a, b, c):
    """Fused a*b + c in float64 (error-free product and sum: one rounding, save vanishingly rare double roundings)."""
    p = a * b
    split = 134217729.0  # 2**27 + 1: Dekker's split into 26-bit halves
    t = split * a
    ah = t - (t - a)
    al = a - ah
    t = split * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)
    return s + (t + e)


def _box_muller16_f64(d, mean, std, _):
    blocks = d[:d.size // 16 * 16].reshape(-1, 16)
    u1 = 1.0 - blocks[:, :8]
    theta = blocks[:, 8:] * (2.0 * math.pi)
    radius = np.sqrt(-2.0 * libm_log(u1))
    c = radius * np.cos(theta)
    s = radius * np.sin(theta)
    if (mean, std) != (0.0, 1.0):
        c, s = _fma64(c, float(std), float(mean)), _fma64(s, float(std), float(mean))
    blocks[:, :8] = c
    blocks[:, 8:] = s


def _box_muller16_half(d, mean, std):
    """PyTorch's float16 blocks: float32 steps with correctly rounded log/sqrt/cos/sin (float64, rounded)."""
    blocks = d[:d.size // 16 * 16].reshape(-1, 16)
    u1 = _f32(1.0) - blocks[:, :8]
    theta = blocks[:, 8:] * _f32(2.0 * math.pi)
    radius = np.sqrt((_f32(-2.0) * np.log(u1.astype(np.float64)).astype(_f32)).astype(np.float64)).astype(_f32)
    cos = radius * np.cos(theta.astype(np.float64)).astype(_f32)
    sin = radius * np.sin(theta.astype(np.float64)).astype(_f32)
    if (mean, std) != (0.0, 1.0):
        m, sd = np.float64(_f32(mean)), np.float64(_f32(std))
        cos, sin = _fma32(cos, sd, m), _fma32(sin, sd, m)
    blocks[:, :8] = cos
    blocks[:, 8:] = sin


def _fma32(a, b, c):
    """Fused a*b + c in float32: the product is exact in float64, so one more rounding step gives the fused value
    (a double rounding differs only in cases about 2**-29 rare)."""
    r = np.multiply(a, b, dtype=np.float64)
    r += c
    return r.astype(_f32)


def _box_muller16_f32(d, mean, std):
    blocks = d[:d.size // 16 * 16].reshape(-1, 16)
    rows = blocks.shape[0]
    starts = range(0, rows, _CHUNK)
    workers = min(_threads(), len(starts))
    if workers > 1:  # chunks are independent, and NumPy's loops release the GIL: spread them over threads
        pool = _pool(workers)
        list(pool.map(lambda i: _box_muller_rows(blocks[i:i + _CHUNK], mean, std), starts))
    else:
        for i in starts:
            _box_muller_rows(blocks[i:i + _CHUNK], mean, std)


def _box_muller_rows(b, mean, std):
    """Blocks of 16 float32 uniforms (rows of ``b``) into normals, in place."""
    k = b.shape[0] * 8
    ws = _Scratch(k)
    np.subtract(_f32(1.0), b[:, :8], out=ws.u1.reshape(-1, 8))
    np.multiply(b[:, 8:], _f32(2.0 * math.pi), out=ws.theta.reshape(-1, 8))
    radius = _logf(ws.u1, ws.radius, ws)
    radius *= _f32(-2.0)
    np.sqrt(radius, out=radius)
    sin, cos = _sincosf(ws.theta, ws.sin, ws.cos, ws)
    cos *= radius
    sin *= radius
    if (mean, std) != (0.0, 1.0):
        m, sd = np.float64(_f32(mean)), np.float64(_f32(std))
        cos, sin = _fma32(cos, sd, m), _fma32(sin, sd, m)
    b[:, :8] = cos.reshape(-1, 8)
    b[:, 8:] = sin.reshape(-1, 8)


_POOL = {'pool': None, 'pid': None, 'n': None}


def _threads():
    if _POOL['n'] is None:
        try:
            _POOL['n'] = min(8, len(os.sched_getaffinity(0)))
        except AttributeError:
            _POOL['n'] = min(8, os.cpu_count() or 1)
    return _POOL['n']


def _pool(n):
    """A thread pool of ``n`` workers, made afresh after a fork (a forked child cannot use its parent's threads)."""
    if _POOL['pool'] is None or _POOL['pid'] != os.getpid() or _POOL['pool']._max_workers != n:
        from concurrent.futures import ThreadPoolExecutor
        _POOL['pool'], _POOL['pid'] = ThreadPoolExecutor(n, thread_name_prefix='ember-rng'), os.getpid()
    return _POOL['pool']


_CHUNK = 2048  # blocks of 16 per chunk of the float32 Box-Muller


class _Scratch:
    """Preallocated work arrays for one chunk (allocating fresh ones per operation costs as much as the maths)."""

    def __init__(self, n):
        self.u1, self.theta, self.radius, self.sin, self.cos = (np.empty(n, _f32) for _ in range(5))
        self.a, self.b, self.c, self.d = (np.empty(n, _f32) for _ in range(4))
        self.i, self.j, self.k = (np.empty(n, np.int32) for _ in range(3))
        self.t, self.t2 = np.empty(n, np.float64), np.empty(n, np.float64)


def _fma_into(dst, a, b, c, t):
    """dst = fma(a, b, c) in float32 (see _fma32), through the float64 scratch t."""
    np.multiply(a, b, out=t, dtype=np.float64)
    np.add(t, c, out=t, dtype=np.float64)
    np.copyto(dst, t, casting='same_kind')


# Single-precision log and sin/cos as the classic Cephes polynomials evaluate them (range reduction to a mantissa
# in [sqrt(1/2), sqrt(2)) or to [-pi/4, pi/4] by a three-part pi/4), with each multiply feeding an add fused.
_LOG_P = tuple(np.float64(_f32(p)) for p in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
    2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1))
_C = {name: np.float64(_f32(v)) for name, v in dict(
    q1=-2.12194440e-4, q2=0.693359375, dp1=-0.78515625, dp2=-2.4187564849853515625e-4,
    dp3=-3.77489497744594108e-8, c0=2.443315711809948e-5, c1=-1.388731625493765e-3, c2=4.166664568298827e-2,
    s0=-1.9515295891e-4, s1=8.3321608736e-3, s2=-1.6666654611e-1).items()}


def _logf(x, out, ws):
    """Cephes logf of positive normal float32 ``x`` into ``out``."""
    t = ws.t
    bits = x.view(np.int32)
    e, m, small, z = ws.a, ws.b, ws.c, ws.d
    np.right_shift(bits, 23, out=ws.i)
    ws.i -= 0x7F - 1
    np.copyto(e, ws.i, casting='unsafe')  # the exponent, plus one
    mi = m.view(np.int32)
    np.bitwise_and(bits, ~0x7F800000, out=mi)
    mi |= 0x3F000000  # the mantissa in [0.5, 1)
    np.less(m, _f32(0.707106781186547524), out=small, casting='unsafe')
    e -= small
    small *= m  # m where the mantissa is below sqrt(1/2), else 0 (a multiply by 1 or 0 is exact)
    m -= _f32(1)
    m += small
    np.multiply(m, m, out=z)
    y = out
    _fma_into(y, m, _LOG_P[0], _LOG_P[1], t)
    for p in _LOG_P[2:]:
        _fma_into(y, y, m, p, t)
    y *= m
    np.multiply(e, _f32(_C['q1']), out=small)
    _fma_into(y, y, z, small, t)
    _fma_into(y, z, -0.5, y, t)
    m += y
    _fma_into(out, e, _C['q2'], m, t)
    return out


def _sincosf(x, sin, cos, ws):
    """Cephes sinf and cosf of float32 ``x`` (one range reduction for both) into ``sin`` and ``cos``."""
    t = ws.t
    sign_sin, j, tmp = ws.i, ws.j, ws.k
    np.bitwise_and(x.view(np.int32), np.int32(-0x80000000), out=sign_sin)
    r, y, z = ws.a, ws.b, ws.c
    np.abs(x, out=r)
    np.multiply(r, _f32(1.27323954473516), out=y)  # |x| * 4 / pi
    np.copyto(j, y, casting='unsafe')
    j += 1
    j &= ~1  # the even octant index
    np.copyto(y, j, casting='unsafe')
    for dp in (_C['dp1'], _C['dp2'], _C['dp3']):  # r = |x| - j * pi / 4, pi / 4 in three parts
        _fma_into(r, y, dp, r, t)
    np.multiply(r, r, out=z)
    c, s = cos, sin
    _fma_into(c, z, _C['c0'], _C['c1'], t)
    _fma_into(c, c, z, _C['c2'], t)
    c *= z
    np.multiply(z, 0.5, out=ws.t2, dtype=np.float64)
    np.negative(ws.t2, out=ws.t2)
    _fma_into(c, c, z, ws.t2, t)
    c += _f32(1)
    _fma_into(s, z, _C['s0'], _C['s1'], t)
    _fma_into(s, s, z, _C['s2'], t)
    s *= z
    _fma_into(s, s, r, r, t)
    # octants 2 and 6 (mod 8) swap the polynomials; the sine's sign flips from octant 4 on, the cosine's in 2..5
    sb, cb = s.view(np.int32), c.view(np.int32)
    np.bitwise_xor(sb, cb, out=tmp)
    sel = y.view(np.int32)
    np.right_shift(j, 1, out=sel)
    sel &= 1
    np.negative(sel, out=sel)
    tmp &= sel
    sb ^= tmp
    cb ^= tmp
    np.bitwise_and(j, 4, out=tmp)
    tmp <<= 29
    sign_sin ^= tmp
    sb ^= sign_sin
    j -= 2
    np.invert(j, out=j)
    j &= 4
    j <<= 29
    cb ^= j
    return sin, cos


class TorchCPUGenerator:
    """What an ember op draws from on cpu: the NumPy ``Generator`` methods ember's ops call, each drawing from the
    stream exactly as the PyTorch function of the same role does (``random`` is ``uniform_``, ``standard_normal``
    is ``normal_``, ``integers`` is ``random_(from, to)``, ``permutation`` is ``randperm``). Distributions PyTorch
    has no CPU counterpart for fall back to a NumPy Generator seeded from the stream."""

    def __init__(self, stream):
        self.stream = stream

    @staticmethod
    def _n(size):
        shape = () if size is None else ((int(size),) if np.ndim(size) == 0 else tuple(int(s) for s in size))
        return shape, math.prod(shape)

    def random(self, size=None, dtype=np.float64, out=None):
        shape, n = self._n(size)
        y = self.stream.uniform(n, dtype).reshape(shape)
        if out is not None:
            out[...] = y
            return out
        return y

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        shape, n = self._n(size)
        return self.stream.uniform(n, dtype, low, high).reshape(shape)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        shape, n = self._n(size)
        y = self.stream.normal(n, dtype).reshape(shape)
        if out is not None:
            out[...] = y
            return out
        return y

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=np.float64):
        shape, n = self._n(size)
        return self.stream.normal(n, dtype, loc, scale).reshape(shape)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        if high is None:
            low, high = 0, low
        shape, n = self._n(size)
        return self.stream.randint(n, int(low), int(high) + bool(endpoint)).reshape(shape).astype(dtype, copy=False)

    def permutation(self, n):
        if not isinstance(n, (int, np.integer)):
            return np.asarray(n)[self.stream.randperm(len(n))]
        return self.stream.randperm(n)

    def bernoulli(self, p, size=None):
        """``bernoulli_(p)`` with a float p: a float64 uniform below p."""
        shape, n = self._n(size)
        p = float(p)
        if 0.0 < p < 1.0:
            # u = (hi21 * 2**32 + lo) * 2**-53 exactly, so u < p  <=>  hi21 * 2**32 + lo < ceil(p * 2**53): the same
            # decisions compared on the integer words, without building the float64 uniforms (dropout's hot path)
            t = math.ceil(p * 9007199254740992.0)
            th, tl = t >> 32, t & 0xFFFFFFFF
            r = self.stream.u32(2 * n)
            hi = r[0::2] & 0x1FFFFF
            keep = hi < th
            eq = hi == th
            if eq.any():
                keep |= eq & (r[1::2] < tl)
            return keep.reshape(shape)
        return (self.stream.d53(n) < p).reshape(shape)

    def exponential(self, scale=1.0, size=None, dtype=np.float64):
        shape, n = self._n(size)
        u = self.stream.d53(n)
        return ((-float(scale)) * exact(np.log1p, math.log1p, -u, dtype)).astype(dtype, copy=False).reshape(shape)

    def geometric(self, p, size=None, dtype=np.float64):
        shape, n = self._n(size)
        u = self.stream.d53(n)
        return np.ceil(exact(np.log, math.log, u, dtype) / math.log1p(-float(p))).astype(dtype).reshape(shape)

    def lognormal(self, mean=0.0, sigma=1.0, size=None, dtype=np.float64):
        shape, n = self._n(size)
        z = _fma64(self.stream.scalar_normals(n), float(sigma), float(mean))
        return exact(np.exp, math.exp, z, dtype).astype(dtype, copy=False).reshape(shape)

    def cauchy(self, median=0.0, sigma=1.0, size=None, dtype=np.float64):
        shape, n = self._n(size)
        u = self.stream.d53(n)
        t = exact(np.tan, math.tan, math.pi * (u - 0.5), dtype)
        return _fma64(t, float(sigma), float(median)).astype(dtype, copy=False).reshape(shape)

    def standard_cauchy(self, size=None, dtype=np.float64):
        return self.cauchy(0.0, 1.0, size, dtype)

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        fallback = np.random.Generator(np.random.PCG64(self.stream.u64(2).tolist()))
        return getattr(fallback, name)
