"""RAdam: Adam with the variance of the adaptive learning rate rectified (Liu et al.)."""
import math

from ._engine import _ElementwiseOptimizer
from ._math import xp_of, effective_grad, effective_grad_, adam_moments, adam_moments_, add_scaled_
from .optimizer import _value, _check, _check_lr, _check_betas, _check_unsupported

__all__ = ['RAdam']


def _rectification(beta2, step):
    """``r_t`` once the approximated SMA length ``rho_t`` exceeds 5, else None (no adaptive step yet)."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / (1 - beta2 ** step)
    if rho_t <= 5.0:
        return None
    return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def update(p, g, state, group):
    """The reference: one RAdam step of ``p``; returns the new ``p``."""
    lr, eps, wd = _value(group['lr']), group['eps'], group['weight_decay']
    beta1, beta2 = (_value(b) for b in group['betas'])
    step = state['step'] = state.get('step', 0.0) + 1
    if wd and group['decoupled_weight_decay']:
        p = p * (1 - lr * wd)
        wd = 0
    g = effective_grad(p, g, group['maximize'], wd)
    m, v = adam_moments(state, g, beta1, beta2)
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    rect = _rectification(beta2, step)
    if rect is None:
        return p - m * (lr / bc1)
    return p - m / (xp_of(v).sqrt(v) + eps) * (lr / bc1 * rect * math.sqrt(bc2))


class RAdam(_ElementwiseOptimizer):
    """Moments as in Adam; while the approximated SMA length ``rho_t`` is at most 5 the step is plain momentum
    ``p -= lr * m / (1 - beta1^t)``, afterwards it is scaled by ``sqrt(1 - beta2^t) / (sqrt(v) + eps)`` and the
    rectification term ``r_t``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_lr(lr)
        _check('epsilon', eps)
        _check_betas(betas)
        _check('weight_decay', weight_decay)
        _check_unsupported(differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        return ('exp_avg', 'exp_avg_sq')

    def _hyper(self, group):
        beta1, beta2 = group['betas']
        return (_value(group['lr']), _value(beta1), _value(beta2), group['eps'], group['weight_decay'],
                group['decoupled_weight_decay'], group['maximize'])

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        lr, beta1, beta2, eps, wd, decoupled, maximize = hp
        t0, t1 = tmp
        step = scal[0] + 1
        if wd and decoupled:
            p *= 1 - lr * wd
            wd = 0
        g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
        m, v = bufs
        adam_moments_(xp, m, v, g, beta1, beta2, t1)
        bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
        rect = _rectification(beta2, step)
        if rect is not None:
            xp.sqrt(v, out=t1)
            t1 += eps
            xp.divide(m, t1, out=t1)
            add_scaled_(xp, p, -(lr / bc1 * rect * math.sqrt(bc2)), t1, t1)
        else:
            add_scaled_(xp, p, -(lr / bc1), m, t1)
        return (step,)
