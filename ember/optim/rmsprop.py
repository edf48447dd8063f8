"""RMSprop: gradients scaled by a running root mean square, optionally centered and with momentum."""
from ._engine import _ElementwiseOptimizer
from ._math import xp_of, effective_grad, effective_grad_, lerp, lerp_, decay_sq, decay_sq_, add_scaled_
from .optimizer import _value, _check, _check_lr, _check_unsupported

__all__ = ['RMSprop']


def update(p, g, state, group):
    """The reference: one RMSprop step of ``p``; returns the new ``p``."""
    lr, alpha, eps, momentum = _value(group['lr']), group['alpha'], group['eps'], group['momentum']
    state['step'] = state.get('step', 0.0) + 1
    g = effective_grad(p, g, group['maximize'], group['weight_decay'])
    xp = xp_of(g)
    state['square_avg'] = sq = decay_sq(state.get('square_avg', xp.zeros_like(g)), g, alpha)
    if group['centered']:
        state['grad_avg'] = ga = lerp(state.get('grad_avg', xp.zeros_like(g)), g, 1 - alpha)
        avg = xp.sqrt(sq - ga * ga) + eps
    else:
        avg = xp.sqrt(sq) + eps
    if momentum > 0:
        buf = state['momentum_buffer'] = state.get('momentum_buffer', xp.zeros_like(g)) * momentum + g / avg
        return p - buf * lr
    return p - g / avg * lr


class RMSprop(_ElementwiseOptimizer):
    """``sq = alpha * sq + (1 - alpha) * g^2``; ``avg = sqrt(sq - ga^2) + eps`` when ``centered`` (``ga`` the
    running mean of ``g``) else ``sqrt(sq) + eps``; ``p -= lr * g / avg``, or through a momentum buffer
    ``b = momentum * b + g / avg``."""
    _ntmp = 3

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        _check('epsilon', eps)
        _check('momentum', momentum)
        _check('weight_decay', weight_decay)
        _check('alpha', alpha)
        _check_unsupported(differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        names = ('square_avg',)
        if group['momentum'] > 0:
            names += ('momentum_buffer',)
        if group['centered']:
            names += ('grad_avg',)
        return names

    def _hyper(self, group):
        return (_value(group['lr']), group['alpha'], group['eps'], group['weight_decay'], group['momentum'],
                group['centered'], group['maximize'])

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        lr, alpha, eps, wd, momentum, centered, maximize = hp
        t0, t1, t2 = tmp
        g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
        sq = bufs[0]
        decay_sq_(xp, sq, g, alpha, t1)
        if centered:
            ga = bufs[-1]
            lerp_(xp, ga, g, 1 - alpha, t1)
            xp.multiply(ga, ga, out=t1)
            xp.subtract(sq, t1, out=t1)
            xp.sqrt(t1, out=t1)
        else:
            xp.sqrt(sq, out=t1)
        t1 += eps
        if momentum > 0:
            buf = bufs[1]
            buf *= momentum
            xp.divide(g, t1, out=t2)
            buf += t2
            add_scaled_(xp, p, -lr, buf, t2)
        else:
            xp.divide(g, t1, out=t2)
            add_scaled_(xp, p, -lr, t2, t2)
        return (scal[0] + 1,)
