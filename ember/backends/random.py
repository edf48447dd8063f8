"""Random number generators: ember.Generator (seedable, per device) and the default one behind manual_seed."""
import json

import numpy as _np

from . import get_device, cpu


class Generator:
    """A seedable source of random numbers for one device (NumPy's PCG64 on cpu, CuPy's generator on cuda)."""

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
            return _np.random.Generator(_np.random.PCG64(seed))
        return self.device.xp.random.Generator(self.device.xp.random.XORWOW(seed))

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
        if self.device is not cpu:
            raise NotImplementedError('get_state() of a cuda generator is not supported by ember')
        state = json.dumps({'seed': self._seed, 'bit_generator': self.gen.bit_generator.state})
        return tensor(list(state.encode()), dtype=uint8)

    def set_state(self, new_state):
        raw = bytes(new_state.tolist() if hasattr(new_state, 'tolist') else new_state)
        try:
            st = json.loads(raw.decode())
        except ValueError:
            raise RuntimeError('set_state: the state is not one produced by ember.Generator.get_state()') from None
        self._seed = st['seed']
        self._gen = self._make(self._seed)
        self._gen.bit_generator.state = st['bit_generator']
        return self


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
