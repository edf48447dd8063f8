"""Adadelta: step sizes from running averages of squared gradients and squared updates."""
from ._engine import _ElementwiseOptimizer
from ._math import xp_of, effective_grad, effective_grad_, decay_sq, decay_sq_, add_scaled_
from .optimizer import _value, _check, _check_lr, _check_unsupported

__all__ = ['Adadelta']


def update(p, g, state, group):
    """The reference: one Adadelta step of ``p``; returns the new ``p``."""
    lr, rho, eps = _value(group['lr']), group['rho'], group['eps']
    state['step'] = state.get('step', 0.0) + 1
    g = effective_grad(p, g, group['maximize'], group['weight_decay'])
    xp = xp_of(g)
    state['square_avg'] = sq = decay_sq(state.get('square_avg', xp.zeros_like(g)), g, rho)
    acc = state.get('acc_delta', xp.zeros_like(g))
    delta = xp.sqrt(acc + eps) / xp.sqrt(sq + eps) * g
    state['acc_delta'] = decay_sq(acc, delta, rho)
    return p - delta * lr


class Adadelta(_ElementwiseOptimizer):
    """``sq = rho * sq + (1 - rho) * g^2``; ``delta = sqrt(acc + eps) / sqrt(sq + eps) * g``;
    ``acc = rho * acc + (1 - rho) * delta^2``; ``p -= lr * delta``."""
    _ntmp = 3

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f'Invalid rho value: {rho}')
        _check('epsilon', eps)
        _check('weight_decay', weight_decay)
        _check_unsupported(differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        return ('square_avg', 'acc_delta')

    def _hyper(self, group):
        return (_value(group['lr']), group['rho'], group['eps'], group['weight_decay'], group['maximize'])

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        lr, rho, eps, wd, maximize = hp
        t0, t1, t2 = tmp
        g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
        sq, acc = bufs
        decay_sq_(xp, sq, g, rho, t1)
        xp.add(sq, eps, out=t1)
        xp.sqrt(t1, out=t1)          # std
        xp.add(acc, eps, out=t2)
        xp.sqrt(t2, out=t2)
        t2 /= t1
        t2 *= g                      # delta
        decay_sq_(xp, acc, t2, rho, t1)
        add_scaled_(xp, p, -lr, t2, t2)
        return (scal[0] + 1,)
