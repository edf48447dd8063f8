"""Adagrad: per-element learning rates from the running sum of squared gradients."""
from ._engine import _ElementwiseOptimizer
from ._math import xp_of, effective_grad, effective_grad_, add_scaled_
from .optimizer import (_value, _check, _check_lr, _check_unsupported,
                        _scalar_tensor)
from .._tensor import _wrap

__all__ = ['Adagrad']


def update(p, g, state, group):
    """The reference: one Adagrad step of ``p``; returns the new ``p``."""
    lr, eps = _value(group['lr']), group['eps']
    step = state['step'] = state.get('step', 0.0) + 1
    g = effective_grad(p, g, group['maximize'], group['weight_decay'])
    clr = lr / (1 + (step - 1) * group['lr_decay'])
    s = state.get('sum')
    xp = xp_of(g)
    state['sum'] = s = (xp.full_like(g, group['initial_accumulator_value']) if s is None else s) + g * g
    return p - g / (xp.sqrt(s) + eps) * clr


class Adagrad(_ElementwiseOptimizer):
    """``sum += g^2``; ``p -= clr * g / (sqrt(sum) + eps)`` with ``clr = lr / (1 + (step - 1) * lr_decay)``.
    State is created for every parameter at construction, as in PyTorch."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        _check('lr_decay', lr_decay)
        _check('weight_decay', weight_decay)
        _check('initial_accumulator_value', initial_accumulator_value)
        _check('epsilon', eps)
        _check_unsupported(differentiable, fused, foreach)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group['params']:
                st = self.state[p]
                st['step'] = _scalar_tensor(0.0)
                st['sum'] = _wrap(p._device.xp.full(p._data.shape, group['initial_accumulator_value'],
                                                    p._data.dtype), p._device)

    def share_memory(self):
        """A no-op kept for PyTorch compatibility (ember state lives in ordinary process memory)."""

    def _buffer_names(self, group):
        return ('sum',)

    def _buffer_fill(self, name, group):
        return group['initial_accumulator_value']

    def _hyper(self, group):
        return (_value(group['lr']), group['lr_decay'], group['weight_decay'], group['eps'], group['maximize'])

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        lr, lr_decay, wd, eps, maximize = hp
        t0, t1 = tmp
        step = scal[0] + 1
        g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
        clr = lr / (1 + (step - 1) * lr_decay)
        s = bufs[0]
        xp.multiply(g, g, out=t1)
        s += t1
        xp.sqrt(s, out=t1)
        t1 += eps
        xp.divide(g, t1, out=t1)
        add_scaled_(xp, p, -clr, t1, t1)
        return (step,)
