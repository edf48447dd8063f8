"""PyTorch's CPU random streams, reproduced bit for bit on NumPy's MT19937 (legacy seeding), vectorised.

Everything here was measured against torch (see tests/test_rng.py), not taken from its source:
- the generator is a 32-bit Mersenne Twister seeded like ``numpy.random.RandomState(seed & 0xffffffff)``;
- a float32 uniform is the low 24 bits of one 32-bit output times 2**-24 (float16/bfloat16: that float32, rounded);
  a float64 uniform is the low 53 bits of two outputs (the first one the high word) times 2**-53;
- ``normal_`` on 16 or more elements fills the tensor with uniforms and turns each block of 16 into 8 Box-Muller
  pairs (u1 = 1 - first eight, u2 = last eight; cos into the first half, sin into the second); a size that is not
  a multiple of 16 redraws 16 fresh uniforms for the last 16 elements. float32 uses single-precision Cephes
  log/sincos polynomials with fused multiply-adds (emulated exactly in _boxmuller.py); float64 uses libm (Python's
  math). float16 draws uniforms for the whole blocks only and rounds the float32 path's results. Under 16
  elements (and for non-contiguous tensors) each value comes from a scalar double Box-Muller, u2 = the second
  uniform of the pair in sqrt(-2 log1p(-u2)), whose sine half is cached in the generator (and its state tensor);
- ``uniform_(a, b)`` is a fused u * (b - a) + a; ``bernoulli_(p)``, exponential_, geometric_, cauchy_, log_normal_
  and multinomial draw float64 uniforms (or scalar normals) whatever the dtype;
- integer ranges take one 32-bit output modulo the range below 2**28, else a 64-bit one; randperm is a forward
  Fisher-Yates swap with one 32-bit output per step.
The single-precision log/sincos emulation (_boxmuller.py) follows the classic Cephes polynomial evaluation
(published coefficients), with the operation order and fusions found by comparing against torch's outputs.
"""
import math

import numpy as np

from ._boxmuller import box_muller16_f32

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
        """The next ``n`` 64-bit values (two outputs each, the first one the high word: NumPy's full-range draw)."""
        n = int(n)
        if n == 0:
            return np.empty(0, np.uint64)
        self._fresh = False
        return self._ints.integers(0, (1 << 64) - 1, size=n, dtype=np.uint64, endpoint=True)

    def f24(self, n, out=None):
        """``n`` float32 uniforms in [0, 1) (into ``out``, a float32 array of ``n``, when given)."""
        r = self.u32(n)
        r &= 0xFFFFFF
        if out is None:
            out = r.view(_f32)  # converted in place: the int32 source is read before each float is written
        np.copyto(out, r.view(np.int32), casting='unsafe')
        out *= _f32(2.0 ** -24)
        return out

    def d53(self, n):
        """``n`` float64 uniforms in [0, 1)."""
        r = self.u64(n)
        r &= np.uint64((1 << 53) - 1)
        out = r.view(np.float64)
        np.copyto(out, r.view(np.int64), casting='unsafe')
        out *= 2.0 ** -53
        return out

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
        # float32, and float16 (which PyTorch computes in float32 and rounds; it draws no uniforms for the
        # elements past the last whole block, float32 does, before the tail's)
        out = np.empty(n, _f32)
        box_muller16_f32(out, mean, std, fill=lambda part: self.f24(part.size, part))
        if n % 16:
            if dt == np.float32:
                self.u32(n % 16)
            tail = self.f24(16)
            box_muller16_f32(tail, mean, std)
            out[n - 16:] = tail
        return out if dt == np.float32 else out.astype(dt)

    # ---- integers ---------------------------------------------------------------------------------------------
    def randint(self, n, low, high):
        """``n`` integers in [low, high) (int64)."""
        rng = int(high) - int(low)
        if rng <= 0:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        if rng < 1 << 28:
            r = self.u32(n)
            r %= np.uint32(rng)  # in 32 bits (twice as fast), then widened
            r = r.astype(np.int64)
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
        r = self.u32(n - 1)
        r %= np.arange(n, 1, -1, dtype=np.uint32)
        j = r.astype(np.int64)
        j += np.arange(n - 1, dtype=np.int64)
        return fisher_yates(j)


def fisher_yates(j):
    """The permutation that swapping positions i and j[i] (j[i] >= i) for i = 0, 1, ... makes of range(n), without
    a sequential loop. Before step k, position k holds the value a[k] that the last earlier step choosing k left
    there (a[step]'s own a, recursively), or k itself if none did; step i's final value is a[q] of the last earlier
    step q that chose j[i], or j[i] itself. "The last earlier step choosing t" comes from sorting the steps by
    (target, step); the chains a[k] -> a[prev] are resolved by pointer doubling (they are short)."""
    m = j.size
    n = m + 1
    ar = np.arange(n, dtype=np.int64)
    shift = max(1, (n - 1).bit_length())
    key = j << shift
    key |= ar[:m]
    key.sort()
    tgt = key >> shift
    step = key & ((1 << shift) - 1)
    same = np.empty(m, bool)  # sorted entry s has the same target as entry s - 1
    same[0] = False
    np.equal(tgt[1:], tgt[:-1], out=same[1:])
    before = np.full(m, -1, np.int64)  # per sorted entry: the previous step with the same target
    np.copyto(before[1:], step[:-1], where=same[1:])
    q = np.empty(m, np.int64)
    q[step] = before
    last = np.flatnonzero(np.append(~same[1:], True))  # the last entry of each target
    prev = np.full(n, -1, np.int64)  # per position k: the last step before k that chose k
    lt, ls, lb = tgt[last], step[last], before[last]
    prev[lt] = np.where(ls == lt, lb, ls)  # a step chooses targets at or after itself: skip step k itself
    a = np.where(prev >= 0, prev, ar)
    while True:
        nxt = a[a]
        if np.array_equal(nxt, a):
            break
        a = nxt
    out = np.empty(n, np.int64)
    qc = np.maximum(q, 0)
    out[:m] = np.where(q >= 0, a[qc], j)
    out[m] = a[m]
    return out


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


def _fma32(a, b, c):
    """Fused a*b + c in float32: the product is exact in float64, so one more rounding step gives the fused value
    (a double rounding differs only in cases about 2**-29 rare)."""
    r = np.multiply(a, b, dtype=np.float64)
    r += c
    return r.astype(_f32)


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
