"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule (Dozat)."""
from ._engine import _ElementwiseOptimizer
from ._math import xp_of, effective_grad, effective_grad_, adam_moments, adam_moments_
from .optimizer import _value, _check, _check_lr, _check_betas, _check_unsupported, _scalar_dtype

__all__ = ['NAdam']


def _momentum_coefficients(beta1, momentum_decay, step, mu_product):
    """``mu_t``, ``mu_{t+1}`` and the running products ``prod mu`` up to t and t+1 (the product is kept in the
    scalar-state dtype, as PyTorch keeps it)."""
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    f = _scalar_dtype().np.type
    mu_product = float(f(f(mu_product) * f(mu)))
    return mu, mu_next, mu_product, mu_product * mu_next


def update(p, g, state, group):
    """The reference: one NAdam step of ``p``; returns the new ``p``."""
    lr, eps, wd = _value(group['lr']), group['eps'], group['weight_decay']
    beta1, beta2 = (_value(b) for b in group['betas'])
    step = state['step'] = state.get('step', 0.0) + 1
    if wd and group['decoupled_weight_decay']:
        p = p * (1 - lr * wd)
        wd = 0
    g = effective_grad(p, g, group['maximize'], wd)
    mu, mu_next, prod, prod_next = _momentum_coefficients(beta1, group['momentum_decay'], step,
                                                          state.get('mu_product', 1.0))
    state['mu_product'] = prod
    m, v = adam_moments(state, g, beta1, beta2)
    bc2_sqrt = (1 - beta2 ** step) ** 0.5
    # lr * ((1 - mu) / (1 - prod) * g + mu_next / (1 - prod_next) * m) / (sqrt(v / bc2) + eps), bc2_sqrt moved up
    g_coef = lr * (1.0 - mu) / (1.0 - prod) * bc2_sqrt
    m_coef = lr * mu_next / (1.0 - prod_next) * bc2_sqrt
    return p - (g * g_coef + m * m_coef) / (xp_of(v).sqrt(v) + eps * bc2_sqrt)


class NAdam(_ElementwiseOptimizer):
    """``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))``; with ``m``, ``v`` as in Adam and
    ``denom = sqrt(v / (1 - beta2^t)) + eps``:
    ``p -= lr * (1 - mu_t) / (1 - prod mu) * g / denom + lr * mu_{t+1} / (1 - prod mu * mu_{t+1}) * m / denom``."""
    _scalar_names = ('step', 'mu_product')
    _ntmp = 3

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_lr(lr)
        _check('epsilon', eps)
        _check_betas(betas)
        _check('weight_decay', weight_decay)
        _check('momentum_decay', momentum_decay)
        _check_unsupported(differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _scalar_init(self, name):
        return 1.0 if name == 'mu_product' else 0.0

    def _buffer_names(self, group):
        return ('exp_avg', 'exp_avg_sq')

    def _hyper(self, group):
        beta1, beta2 = group['betas']
        return (_value(group['lr']), _value(beta1), _value(beta2), group['eps'], group['weight_decay'],
                group['momentum_decay'], group['decoupled_weight_decay'], group['maximize'])

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        lr, beta1, beta2, eps, wd, momentum_decay, decoupled, maximize = hp
        t0, t1, t2 = tmp
        step = scal[0] + 1
        if wd and decoupled:
            p *= 1 - lr * wd
            wd = 0
        g = effective_grad_(xp, g, p, g_own, maximize, wd, t0)
        bc2_sqrt = (1 - beta2 ** step) ** 0.5
        mu, mu_next, mu_product, mu_product_next = _momentum_coefficients(beta1, momentum_decay, step, scal[1])
        m, v = bufs
        adam_moments_(xp, m, v, g, beta1, beta2, t1)
        xp.sqrt(v, out=t1)
        t1 += eps * bc2_sqrt           # denom * bc2_sqrt
        xp.multiply(g, lr * (1.0 - mu) / (1.0 - mu_product) * bc2_sqrt, out=t2)
        m_coef = lr * mu_next / (1.0 - mu_product_next) * bc2_sqrt
        xp.multiply(m, m_coef, out=t0)  # g is no longer needed (t0 may hold it)
        t2 += t0
        t2 /= t1
        p -= t2
        return (step, mu_product)
