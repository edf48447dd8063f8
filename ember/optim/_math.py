"""The arithmetic the optimizers share, twice: readable on arrays (the references) and in place (the fast kernels).

Each optimizer module states its math once as ``update(p, g, state, group)``: NumPy/CuPy arrays in, the new
parameter out, ``state`` (a dict of arrays and floats) updated. That is the reference. The engine runs a separate
in-place ``_kernel`` with scratch arrays instead (no temporaries, small parameters packed, work split over threads);
tests/test_optim.py pins every kernel to its reference for every option (bit for bit, or to one ulp where the fast
path uses a fused multiply-add). The in-place helpers below do the same operations in the same order as their
readable twins, so results agree exactly.
"""

__all__ = ['xp_of', 'effective_grad', 'lerp', 'decay_sq', 'adam_moments', 'bias_corrections']


def xp_of(a):
    """The array module of ``a`` (numpy or cupy)."""
    return a.__array_namespace__()


# ---- readable: arrays in, new arrays out --------------------------------------------------------------------------

def effective_grad(p, g, maximize, weight_decay):
    """The gradient an update follows: negated to ``maximize``, plus the L2 term ``weight_decay * p``."""
    if maximize:
        g = -g
    if weight_decay:
        g = g + p * weight_decay
    return g


def lerp(avg, x, weight):
    """``avg`` moved ``weight`` of the way to ``x``: an exponential moving average (Adam's first moment)."""
    return avg + (x - avg) * weight


def decay_sq(avg, x, beta):
    """``beta * avg + (1 - beta) * x^2``: a running mean of squares (Adam's second moment, RMSprop)."""
    return avg * beta + x * x * (1 - beta)


def adam_moments(state, g, beta1, beta2):
    """Adam's moment estimates ``exp_avg``, ``exp_avg_sq`` (zeros at first), moved towards ``g``; returns both."""
    m = state.get('exp_avg')
    v = state.get('exp_avg_sq')
    if m is None:
        m, v = xp_of(g).zeros_like(g), xp_of(g).zeros_like(g)
    state['exp_avg'] = m = lerp(m, g, 1 - beta1)
    state['exp_avg_sq'] = v = decay_sq(v, g, beta2)
    return m, v


def bias_corrections(beta1, beta2, step):
    """Adam's ``1 - beta1^t`` and ``sqrt(1 - beta2^t)``."""
    return 1 - beta1 ** step, (1 - beta2 ** step) ** 0.5


# ---- in place, into scratch arrays (the fast kernels) ---------------------------------------------------------------

def effective_grad_(xp, g, p, g_own, maximize, weight_decay, out):
    """``effective_grad`` written into ``g`` when the caller owns it, else into ``out``; returns where it is."""
    if weight_decay:
        xp.multiply(p, weight_decay, out=out)
        if maximize:
            xp.subtract(out, g, out=out)
        else:
            xp.add(out, g, out=out)
        return out
    if maximize:
        dst = g if g_own else out
        xp.negative(g, out=dst)
        return dst
    return g


def lerp_(xp, avg, x, weight, tmp):
    """``avg = lerp(avg, x, weight)`` in place."""
    xp.subtract(x, avg, out=tmp)
    tmp *= weight
    avg += tmp


def decay_sq_(xp, avg, x, beta, tmp):
    """``avg = decay_sq(avg, x, beta)`` in place."""
    avg *= beta
    xp.multiply(x, x, out=tmp)
    tmp *= 1 - beta
    avg += tmp


def adam_moments_(xp, m, v, g, beta1, beta2, tmp):
    """``adam_moments`` on the buffers ``m``, ``v`` in place."""
    lerp_(xp, m, g, 1 - beta1, tmp)
    decay_sq_(xp, v, g, beta2, tmp)


def add_scaled_(xp, y, a, x, tmp):
    """``y += a * x`` in place, ``a * x`` going through ``tmp`` (which may be ``x``). NumPy has no fused
    multiply-add: this is two passes where PyTorch's ``add_(x, alpha=a)`` makes one (and rounds once)."""
    xp.multiply(x, a, out=tmp)
    y += tmp
