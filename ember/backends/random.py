"""Random number generators: ember.Generator (seedable, per device) and the default one behind manual_seed."""
import json

import numpy as _np

from . import get_device, cpu
from .mt19937 import MTStream, TorchCPUGenerator, STATE_SIZE
from .._dtype import SCALAR_NAMES


class Generator:
    """A seedable source of random numbers for one device. On cpu it is PyTorch's Mersenne Twister stream (same seed,
    same numbers, same 5056-byte state tensor as torch); on cuda a counter-based generator of ember's own."""

    def __init__(self, device='cpu'):
        self.device = get_device(device)
        self._seed = 67280421310721  # PyTorch's default seed value, for a familiar initial_seed()
        self._gen = None

    @property
    def gen(self):
        if self._gen is None:
            self._gen = self._make(self._seed)
        return self._gen

    def _make(self, seed):
        if self.device is cpu:
            return TorchCPUGenerator(MTStream(seed))
        return CudaGenerator(self.device, seed)

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64
        if not 0 <= seed < 1 << 64:
            raise RuntimeError(f'Overflow when unpacking long: seed {seed} must be within [-2**63, 2**64)')
        self._seed, self._gen = seed, None
        return self

    def seed(self):
        s = int(_np.random.SeedSequence().generate_state(1, _np.uint64)[0])
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        from .._creation import tensor
        from .._dtype import uint8
        if self.device is cpu:  # PyTorch's layout, so states pass between ember and torch
            return tensor(_np.frombuffer(self.gen.stream.get_state(), _np.uint8).copy(), dtype=uint8)
        # a cuda generator's whole state is its key and counter (host numbers)
        state = json.dumps({'seed': self._seed, 'cuda_offset': self.gen.offset})
        return tensor(list(state.encode()), dtype=uint8)

    def set_state(self, new_state):
        if hasattr(new_state, 'numpy'):
            raw = bytes(_np.asarray(new_state.detach().cpu().numpy(), _np.uint8).tobytes())
        else:
            raw = bytes(new_state)
        if self.device is cpu:
            if len(raw) != STATE_SIZE:
                raise RuntimeError(f'Expected either a THGeneratorState of size 5048 or a CPUGeneratorImplState of '
                                   f'size {STATE_SIZE} but found the input RNG state size to be {len(raw)}')
            self.gen.stream.set_state(raw)
            self._seed = self.gen.stream.initial_seed
            return self
        try:
            st = json.loads(raw.decode())
        except ValueError:
            raise RuntimeError('set_state: the state is not one produced by ember.Generator.get_state()') from None
        if ('cuda_offset' in st) != (self.device is not cpu):
            raise RuntimeError(f'set_state: the state was saved from a generator on another device type than '
                               f'{self.device.type}')
        self._seed = st['seed']
        self._gen = self._make(self._seed)
        self._gen.offset = int(st['cuda_offset'])
        return self


class CudaGenerator:
    """The numbers a cuda Generator draws: a counter-based generator (a splitmix64 hash of key and counter, computed
    by ember.backends.cuda_kernels), so its state is two host integers and no draw needs a host sync.

    Offers the NumPy Generator methods ember's ops call (random, standard_normal, integers, permutation, exponential,
    lognormal, standard_cauchy, geometric, normal, uniform); other distributions go to a CuPy RandomState seeded
    from the counter (poisson, gamma, ...)."""

    def __init__(self, device, seed):
        self.device = device
        self.key = _mix64(int(seed))
        self.offset = 0

    def _take(self, n):
        base = self.offset
        self.offset = (self.offset + n) % (1 << 64)
        return base

    @staticmethod
    def _float(dtype):
        dt = _np.dtype(dtype)
        if dt not in (_np.float32, _np.float64):
            raise TypeError(f'a cuda Generator draws float32 or float64, not {dt}')
        return dt

    def _draw_floats(self, kernel, size, dtype, out):
        """One draw with a counter-based float kernel, moving the offset past the values it used."""
        dt = self._float(dtype)
        with self._on():
            y, n = kernel(self.key, self.offset, size, dt, self.device.xp)
        self._take(n)
        return _into(y, out)

    def random(self, size=None, dtype=_np.float64, out=None):
        from .cuda_kernels import rng_uniform
        return self._draw_floats(rng_uniform, size, dtype, out)

    def standard_normal(self, size=None, dtype=_np.float64, out=None):
        from .cuda_kernels import rng_normal
        return self._draw_floats(rng_normal, size, dtype, out)

    def integers(self, low, high=None, size=None, dtype=_np.int64, endpoint=False):
        from .cuda_kernels import rng_integers
        if high is None:
            low, high = 0, low
        high = int(high) + (1 if endpoint else 0)
        with self._on():
            y, n = rng_integers(self.key, self.offset, int(low), high, size, _np.dtype(dtype), self.device.xp)
        self._take(n)
        return y

    def permutation(self, n):
        from .cuda_kernels import rng_bits
        xp = self.device.xp
        if not isinstance(n, (int, _np.integer)):  # an array: a shuffled copy along axis 0
            return n[self.permutation(len(n))]
        with self._on():
            bits, used = rng_bits(self.key, self.offset, int(n), xp)
            self._take(used)
            return xp.argsort(bits).astype(_np.int64)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=_np.float64):
        return self.random(size, dtype) * (high - low) + low

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=_np.float64):
        return self.standard_normal(size, dtype) * scale + loc

    def exponential(self, scale=1.0, size=None, dtype=_np.float64):
        xp = self.device.xp
        return -xp.log1p(-self.random(size, dtype)) * scale

    def lognormal(self, mean=0.0, sigma=1.0, size=None, dtype=_np.float64):
        return self.device.xp.exp(self.standard_normal(size, dtype) * sigma + mean)

    def standard_cauchy(self, size=None, dtype=_np.float64):
        xp = self.device.xp
        return xp.tan(xp.pi * (self.random(size, dtype) - 0.5))

    def geometric(self, p, size=None, dtype=_np.float64):
        xp = self.device.xp
        u = self.random(size, dtype)
        return xp.maximum(xp.ceil(xp.log1p(-u) / xp.log1p(-xp.asarray(p, dtype=u.dtype))), 1).astype(_np.int64)

    def _on(self):
        xp = self.device.xp
        if xp is _np:  # a stand-in device running the NumPy reference kernels (tests)
            import contextlib
            return contextlib.nullcontext()
        return xp.cuda.Device(self.device.index)

    def __getattr__(self, name):
        # any other distribution: CuPy's legacy RandomState, seeded from (key, counter) so draws stay reproducible
        if name.startswith('_'):
            raise AttributeError(name)
        xp = self.device.xp
        if not hasattr(xp.random.RandomState, name):
            raise AttributeError(f'a cuda Generator has no method {name!r}')

        def draw(*args, **kwargs):
            seed = _mix64(self.key ^ self._take(1 << 32)) % (1 << 63)
            with self._on():
                return getattr(xp.random.RandomState(seed), name)(*args, **kwargs)
        return draw


def _mix64(z):
    """splitmix64's finaliser on a Python int: spreads a seed over all 64 bits of a key."""
    m = (1 << 64) - 1
    z = (z + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def _into(y, out):
    if out is None:
        return y
    out[...] = y
    return out


default_generator = Generator('cpu')
_cuda_generators = {}


def generator_for(device, generator=None):
    """The generator an op draws from: the one passed, else the device's default."""
    if generator is not None:
        if generator.device != device:
            raise RuntimeError(f'Expected a \'{device.type}\' device type for generator but found '
                               f'\'{generator.device.type}\'')
        return generator.gen
    if device is cpu:
        return default_generator.gen
    g = _cuda_generators.get(device)
    if g is None:
        g = _cuda_generators[device] = Generator(device)
        g.manual_seed(default_generator.initial_seed())
    return g.gen


def draw_seed(generator=None):
    """``torch.empty((), dtype=torch.int64).random_(generator=generator).item()``: a seed for a new generator
    (RandomSampler, DataLoader workers), drawn from ``generator`` or the cpu default."""
    gen = (generator if generator is not None else default_generator).gen
    if isinstance(gen, TorchCPUGenerator):
        return int(gen.stream.u64(1)[0] % (1 << 63))
    return int(gen.integers(0, 2 ** 62))


def manual_seed(seed):
    """Seed every device's default generator; returns the cpu Generator, as PyTorch does."""
    default_generator.manual_seed(seed)
    for g in _cuda_generators.values():
        g.manual_seed(seed)
    return default_generator


def seed():
    s = default_generator.seed()
    for g in _cuda_generators.values():
        g.manual_seed(s)
    return s


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def fill_random_(self, name, generator, *args, **kwargs):
    """``self.<name>(*args, generator=generator)`` (normal_, uniform_, ...): fills self in place from a generator's
    stream, as PyTorch draws it (ember/_sampling.py: random_fill)."""
    from ..ops.inplace import check_inplace_leaf
    from .._sampling import random_fill
    check_inplace_leaf(self, name)
    gen = generator_for(self._device, generator)
    if self._data.dtype.kind == 'c':
        _complex_fill(self, gen, name, args, kwargs, random_fill)
    else:
        self._data[...] = random_fill(self, gen, name, args, kwargs)
    self._bump()
    return self


def complex_pairs(data, dt, scale):
    """Random reals of shape (..., 2) as one complex number each (divided by scale), or data unchanged: PyTorch
    draws a complex tensor's numbers as its real dtype's, in (real, imag) pairs."""
    return (data / data.dtype.type(scale)).view(dt.np)[..., 0] if dt.is_complex else data


def _complex_fill(t, gen, name, args, kwargs, random_fill):
    """normal_/uniform_ on a complex tensor: its (real, imag) pairs drawn as reals, as PyTorch draws them (normal_'s
    std shared out over the two parts, its mean added to both)."""
    from .._tensor_core import _wrap
    if name not in ('normal_', 'uniform_'):
        kname = SCALAR_NAMES[t._data.dtype.name]
        raise NotImplementedError(f'"{name}" not implemented for \'{kname}\'')
    pairs = _wrap(t._data[..., None].view(t._data.real.dtype), t._device)
    if name == 'normal_':
        mean, std = (list(args) + [kwargs.get('mean', 0.0), kwargs.get('std', 1.0)][len(args):])[:2]
        args, kwargs = (mean, std / 2 ** 0.5), {}
    pairs._data[...] = random_fill(pairs, gen, name, args, kwargs)
