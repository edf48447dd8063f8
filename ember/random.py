"""ember.random: the default generator's seed and state (as torch.random), and fork_rng."""
import contextlib
import warnings

from .backends.random import (Generator, default_generator, manual_seed, seed, initial_seed,  # noqa: F401
                              get_rng_state, set_rng_state)

__all__ = ['manual_seed', 'seed', 'initial_seed', 'get_rng_state', 'set_rng_state', 'fork_rng', 'Generator',
           'default_generator']


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller='fork_rng', _devices_kw='devices', device_type='cuda'):
    """Restore the cpu generator's state (and the listed cuda devices' generators) on leaving the block."""
    if not enabled:
        yield
        return
    from .backends.random import _cuda_generators
    if devices is None:
        gens = list(_cuda_generators.values())
        if len(gens) > 1:
            warnings.warn(f'CUDA reports that you have {len(gens)} available devices, and you have used {_caller} '
                          f'without explicitly specifying which devices are being used. Every device\'s generator '
                          f'is saved and restored.', stacklevel=3)
    else:
        gens = [g for g in _cuda_generators.values() if g.device.index in {getattr(d, 'index', d) for d in devices}]
    cpu_state = default_generator.get_state()
    states = [(g, g.get_state()) for g in gens]
    try:
        yield
    finally:
        default_generator.set_state(cpu_state)
        for g, st in states:
            g.set_state(st)
