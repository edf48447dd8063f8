"""SGD: stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay."""
from ._engine import _ElementwiseOptimizer
from ._math import effective_grad, effective_grad_, add_scaled_
from .optimizer import _value, _check, _check_lr, _check_unsupported

__all__ = ['SGD']


def update(p, g, state, group):
    """The reference: one SGD step of parameter ``p`` with gradient ``g`` (arrays); returns the new parameter."""
    lr, momentum, dampening = _value(group['lr']), group['momentum'], group['dampening']
    g = effective_grad(p, g, group['maximize'], _value(group['weight_decay']))
    if momentum:
        buf = state.get('momentum_buffer')
        buf = g.copy() if buf is None else buf * momentum + g * (1 - dampening)
        state['momentum_buffer'] = buf
        g = g + buf * momentum if group['nesterov'] else buf
    return p - g * lr


class SGD(_ElementwiseOptimizer):
    """``p -= lr * g`` where ``g`` is the gradient (negated if ``maximize``, plus ``weight_decay * p``) or, with
    momentum, the buffer ``b = momentum * b + (1 - dampening) * g`` (``b = g`` at first), or ``g + momentum * b``
    with ``nesterov``."""
    _scalar_names = ()
    _small = 1 << 13
    _block = 0  # slicing large updates did not pay off reliably for SGD's 2-5 passes (it does for Adam's ~10)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_lr(lr)
        _check('momentum', momentum)
        _check('weight_decay', weight_decay)
        _check_unsupported(differentiable, fused, foreach)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError('Nesterov momentum requires a momentum and zero dampening')
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        return ('momentum_buffer',) if group['momentum'] != 0 else ()

    def _hyper(self, group):
        return (_value(group['lr']), group['momentum'], group['dampening'], _value(group['weight_decay']),
                group['nesterov'], group['maximize'])

    def _fused_step(self, hp, items):
        """cuda: the whole group's update in one multi-tensor launch per dtype (ember/optim/_fused.py)."""
        from ._fused import sgd_
        lr, momentum, dampening, wd, nesterov, maximize = hp
        ps = [it[0]._data for it in items]
        gs = [it[0].grad._data for it in items]
        if momentum:
            bufs = [it[1]['momentum_buffer']._data for it in items]
            sgd_(ps, gs, bufs, float(lr), float(momentum), float(dampening), float(wd), nesterov, maximize,
                 first=[it[2] for it in items])
        else:
            sgd_(ps, gs, None, float(lr), 0.0, float(dampening), float(wd), nesterov, maximize)

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        """``update`` in place, into the scratch arrays ``tmp`` (see _engine.py)."""
        lr, momentum, dampening, wd, nesterov, maximize = hp
        t0, t1 = tmp
        if wd or maximize:
            g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
        if momentum:
            buf = bufs[0]
            if fresh:
                xp.copyto(buf, g)
            else:
                buf *= momentum
                if dampening:
                    add_scaled_(xp, buf, 1 - dampening, g, t1)
                else:
                    buf += g
            if nesterov:
                xp.multiply(buf, momentum, out=t1)
                t1 += g
                g = t1
            else:
                g = buf
        add_scaled_(xp, p, -lr, g, t1)
        return ()
