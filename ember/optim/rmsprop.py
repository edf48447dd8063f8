"""RMSprop: gradients scaled by a running root mean square, optionally centered and with momentum."""
from ._engine import _ElementwiseOptimizer, _prep_grad
from .optimizer import _value, _check, _check_lr, _check_unsupported

__all__ = ['RMSprop']


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
        g = _prep_grad(xp, g, p, g_own, maximize, wd, t0)
        sq = bufs[0]
        sq *= alpha
        xp.multiply(g, g, out=t1)
        t1 *= 1 - alpha
        sq += t1
        if centered:
            ga = bufs[-1]
            xp.subtract(g, ga, out=t1)
            t1 *= 1 - alpha
            ga += t1
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
            xp.multiply(buf, lr, out=t2)
        else:
            xp.divide(g, t1, out=t2)
            t2 *= lr
        p -= t2
        return (scal[0] + 1,)
