"""GradScaler: loss scaling for float16 training — scale(), unscale_(), step() that skips inf/nan steps, update()."""
import warnings

__all__ = ['GradScaler', 'OptState']


class OptState:
    READY, UNSCALED, STEPPED = 0, 1, 2


class GradScaler:
    """Multiplies the loss by a scale so float16 gradients do not underflow, and divides the gradients by it before
    the optimizer steps; a step whose gradients hold inf/nan is skipped and the scale shrinks (``backoff_factor``),
    and after ``growth_interval`` clean steps it grows (``growth_factor``). With ``enabled=False`` every method is a
    pass-through. Works on 'cpu' too (the arithmetic is the same)."""

    def __init__(self, device='cuda', init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = str(device).split(':')[0]
        self._enabled = bool(enabled)
        if self._enabled and self._device == 'cuda':
            from .. import cuda
            if not cuda.is_available():
                warnings.warn('ember.amp.GradScaler is enabled, but CUDA is not available. Disabling.')
                self._enabled = False
        if self._enabled:
            if not growth_factor > 1.0:
                raise ValueError('The growth factor must be > 1.0.')
            if not backoff_factor < 1.0:
                raise ValueError('The backoff factor must be < 1.0.')
        self._scale = float(init_scale)
        self._init_scale = float(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer = {}

    # ---- scaling ------------------------------------------------------------------------------------------------
    def scale(self, outputs):
        """``outputs * scale`` (a tensor, or tensors nested in lists/tuples/dicts); unchanged when disabled."""
        if not self._enabled:
            return outputs
        from .._tensor import Tensor
        s = self._scale

        def apply(v):
            if isinstance(v, Tensor):
                return v * s
            if isinstance(v, (list, tuple)):
                return type(v)(apply(x) for x in v)
            if isinstance(v, dict):
                return {k: apply(x) for k, x in v.items()}
            raise ValueError('outputs must be a Tensor or an iterable of Tensors')
        return apply(outputs)

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {'stage': OptState.READY, 'found_inf': False})

    def unscale_(self, optimizer):
        """Divide ``optimizer``'s gradients by the scale, in place, and note whether any is inf/nan."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st['stage'] is OptState.UNSCALED:
            raise RuntimeError('unscale_() has already been called on this optimizer since the last update().')
        if st['stage'] is OptState.STEPPED:
            raise RuntimeError('unscale_() is being called after step().')
        inv = 1.0 / self._scale
        found = False
        bad = {}  # off the cpu: device -> 0-d bool array 'some gradient there is inf/nan', read once at the end
        with _no_grad():
            for group in optimizer.param_groups:
                for p in group['params']:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype.name == 'float16':
                        raise ValueError('Attempting to unscale FP16 gradients.')
                    xp = g._device.xp
                    if g.is_sparse:
                        g = g._values()
                    g._data *= inv
                    if g._device.type == 'cpu':
                        if not found and not bool(xp.isfinite(g._data).all()):
                            found = True
                    else:  # accumulate on the device: no host sync per gradient
                        b = ~xp.isfinite(g._data).all()
                        prev = bad.get(g._device)
                        bad[g._device] = b if prev is None else prev | b
        for b in bad.values():  # one host read per device and step (PyTorch's step() reads found_inf too)
            if found:
                break
            found = bool(b)
        st['stage'], st['found_inf'] = OptState.UNSCALED, found

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` unless this step's (unscaled) gradients hold inf/nan; returns step's result or None."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if 'closure' in kwargs:
            raise RuntimeError('Closure use is not currently supported if GradScaler is enabled.')
        st = self._state(optimizer)
        if st['stage'] is OptState.STEPPED:
            raise RuntimeError('step() has already been called since the last update().')
        if st['stage'] is OptState.READY:
            self.unscale_(optimizer)
        result = None
        if not st['found_inf']:
            result = optimizer.step(*args, **kwargs)
        st['stage'] = OptState.STEPPED
        return result

    def update(self, new_scale=None):
        """Shrink the scale after a step with inf/nan gradients, grow it after ``growth_interval`` clean ones."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if hasattr(new_scale, 'item') else new_scale)
        else:
            states = list(self._per_optimizer.values())
            if not states:
                raise AssertionError('No inf checks were recorded prior to update.')
            if any(s['found_inf'] for s in states):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # ---- introspection and state -------------------------------------------------------------------------------
    def get_scale(self):
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = int(new_interval)

    def is_enabled(self):
        return self._enabled

    def _get_growth_tracker(self):
        return self._growth_tracker if self._enabled else 0

    def state_dict(self):
        if not self._enabled:
            return {}
        return {'scale': self._scale, 'growth_factor': self._growth_factor, 'backoff_factor': self._backoff_factor,
                'growth_interval': self._growth_interval, '_growth_tracker': self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError('The source state dict is empty, possibly because it was saved from a disabled '
                               'instance of GradScaler.')
        self._scale = float(state_dict['scale'])
        self._growth_factor = float(state_dict['growth_factor'])
        self._backoff_factor = float(state_dict['backoff_factor'])
        self._growth_interval = int(state_dict['growth_interval'])
        self._growth_tracker = int(state_dict['_growth_tracker'])

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_per_optimizer'] = {}
        return state


def _no_grad():
    from ..autograd import no_grad
    return no_grad()
