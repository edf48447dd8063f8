"""Adam: adaptive moment estimation, with AMSGrad, L2 or decoupled weight decay and maximize."""
from ._engine import _ElementwiseOptimizer
from ._math import (xp_of, effective_grad, effective_grad_, adam_moments, adam_moments_, bias_corrections,
                    add_scaled_)
from .optimizer import _value, _check, _check_lr, _check_betas, _check_unsupported

__all__ = ['Adam']


def update(p, g, state, group):
    """The reference: one Adam (or, with ``decoupled_weight_decay``, AdamW) step of ``p``; returns the new ``p``."""
    lr, (beta1, beta2), eps, wd = _value(group['lr']), group['betas'], group['eps'], _value(group['weight_decay'])
    beta1, beta2 = _value(beta1), _value(beta2)
    step = state['step'] = state.get('step', 0.0) + 1
    decoupled = group.get('decoupled_weight_decay', False)
    if wd and decoupled:
        p = p * (1 - lr * wd)
    g = effective_grad(p, g, group['maximize'], 0 if decoupled else wd)
    m, v = adam_moments(state, g, beta1, beta2)
    if group['amsgrad']:
        vmax = state.get('max_exp_avg_sq')
        v = state['max_exp_avg_sq'] = xp_of(v).maximum(xp_of(v).zeros_like(v) if vmax is None else vmax, v)
    bc1, bc2_sqrt = bias_corrections(beta1, beta2, step)
    # lr / bc1 * m / (sqrt(v) / bc2_sqrt + eps), with bc2_sqrt moved to the numerator: one division fewer
    return p - m / (xp_of(v).sqrt(v) + eps * bc2_sqrt) * (lr / bc1 * bc2_sqrt)


def _adam_kernel(xp, hp, p, g, g_own, bufs, scal, tmp):
    """``update`` in place, into the scratch arrays ``tmp``; returns the new step count."""
    lr, beta1, beta2, eps, wd, amsgrad, maximize, decoupled = hp
    t0, t1 = tmp
    step = scal[0] + 1
    if wd and decoupled:
        p *= 1 - lr * wd
        wd = 0
    g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
    m, v = bufs[0], bufs[1]
    adam_moments_(xp, m, v, g, beta1, beta2, t1)
    if amsgrad:
        xp.maximum(bufs[2], v, out=bufs[2])
        v = bufs[2]
    bc1, bc2_sqrt = bias_corrections(beta1, beta2, step)
    xp.sqrt(v, out=t1)
    t1 += eps * bc2_sqrt
    xp.divide(m, t1, out=t1)
    add_scaled_(xp, p, -(lr / bc1 * bc2_sqrt), t1, t1)
    return (step,)


class Adam(_ElementwiseOptimizer):
    """Adam (Kingma & Ba): moments ``m``, ``v`` of the gradient with bias correction; ``amsgrad`` keeps the running
    maximum of ``v``; ``decoupled_weight_decay`` shrinks ``p`` by ``lr * weight_decay`` instead of adding L2 to
    the gradient (that is AdamW)."""
    _ntmp = 2

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_lr(lr)
        _check('epsilon', eps)
        _check_betas(betas)
        _check('weight_decay', weight_decay)
        _check_unsupported(differentiable, fused, foreach)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _buffer_names(self, group):
        return ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq') if group['amsgrad'] else ('exp_avg', 'exp_avg_sq')

    def _hyper(self, group):
        beta1, beta2 = group['betas']
        return (_value(group['lr']), _value(beta1), _value(beta2), group['eps'], group['weight_decay'],
                group['amsgrad'], group['maximize'], group.get('decoupled_weight_decay', False))

    def _fused_step(self, hp, items):
        """cuda: the whole group's update in one multi-tensor launch per dtype (ember/optim/_fused.py); the step
        counts are cpu scalars, so the bias corrections are computed on the host without a sync."""
        from ._fused import adam_
        lr, beta1, beta2, eps, wd, amsgrad, maximize, decoupled = hp
        ps = [it[0]._data for it in items]
        gs = [it[0].grad._data for it in items]
        sts = [it[1] for it in items]
        steps = [float(st['step']._data) + 1 for st in sts]
        adam_(ps, gs, [st['exp_avg']._data for st in sts], [st['exp_avg_sq']._data for st in sts], steps,
              float(lr), float(beta1), float(beta2), float(_value(eps)), float(_value(wd)), bool(decoupled),
              bool(amsgrad), [st['max_exp_avg_sq']._data for st in sts] if amsgrad else None, bool(maximize))
        for st, s in zip(sts, steps):
            st['step']._data[...] = s

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        return _adam_kernel(xp, hp, p, g, g_own, bufs, scal, tmp)
