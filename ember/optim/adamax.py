"""Adamax: Adam with the infinity norm in place of the second moment."""
from ._engine import _ElementwiseOptimizer
from ._math import xp_of, effective_grad, effective_grad_, lerp, lerp_, add_scaled_
from .optimizer import _value, _check, _check_lr, _check_betas, _check_unsupported

__all__ = ['Adamax']


def update(p, g, state, group):
    """The reference: one Adamax step of ``p``; returns the new ``p``."""
    lr, eps = _value(group['lr']), group['eps']
    beta1, beta2 = (_value(b) for b in group['betas'])
    step = state['step'] = state.get('step', 0.0) + 1
    g = effective_grad(p, g, group['maximize'], group['weight_decay'])
    xp = xp_of(g)
    m, u = state.get('exp_avg', xp.zeros_like(g)), state.get('exp_inf', xp.zeros_like(g))
    state['exp_avg'] = m = lerp(m, g, 1 - beta1)
    state['exp_inf'] = u = xp.maximum(u * beta2, xp.abs(g) + eps)
    return p - m / u * (lr / (1 - beta1 ** step))


class Adamax(_ElementwiseOptimizer):
    """``m = lerp(m, g, 1 - beta1)``; ``u = max(beta2 * u, |g| + eps)``; ``p -= lr / (1 - beta1^t) * m / u``."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        _check('epsilon', eps)
        _check_betas(betas)
        _check('weight_decay', weight_decay)
        _check_unsupported(differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        return ('exp_avg', 'exp_inf')

    def _hyper(self, group):
        beta1, beta2 = group['betas']
        return (_value(group['lr']), _value(beta1), _value(beta2), group['eps'], group['weight_decay'],
                group['maximize'])

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        lr, beta1, beta2, eps, wd, maximize = hp
        t0, t1 = tmp
        step = scal[0] + 1
        g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
        m, u = bufs
        lerp_(xp, m, g, 1 - beta1, t1)
        u *= beta2
        xp.abs(g, out=t1)
        t1 += eps
        xp.maximum(u, t1, out=u)
        xp.divide(m, u, out=t1)
        add_scaled_(xp, p, -(lr / (1 - beta1 ** step)), t1, t1)
        return (step,)
