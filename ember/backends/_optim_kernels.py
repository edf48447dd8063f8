"""Fused per-parameter optimizer updates (SGD, Adam/AdamW) as CUDA kernels, with NumPy references."""
import math

import numpy as _np

from .cuda_kernels import _cp, _elementwise, _f


# ==== optimizer updates: one kernel per parameter does the whole update in one pass ==================================
# The scalars (learning rate, bias corrections) are Python numbers computed on the host from Python step counts, so a
# step never reads GPU memory on the host.

_SGD_BODY = '''
    AC d = (AC)g;
    if (maximize) d = -d;
    if (wd != (AC)0) d += wd * (AC)p;
    AC pb = (AC)buf;
    AC bnew = first ? d : momentum * pb + ((AC)1 - dampening) * d;
    buf = (T)bnew;
    d = nesterov ? d + momentum * bnew : bnew;
    p = (T)((AC)p - lr * d);
'''
_SGD_PLAIN = '''
    AC d = (AC)g;
    if (maximize) d = -d;
    if (wd != (AC)0) d += wd * (AC)p;
    p = (T)((AC)p - lr * d);
'''
_ADAM_BODY = '''
    AC gi = (AC)g;
    if (maximize) gi = -gi;
    AC pi = (AC)p;
    if (wd != (AC)0) {
        if (decoupled) pi = pi * ((AC)1 - lr * wd);
        else gi = gi + wd * pi;
    }
    AC mi = (AC)m;
    mi = mi + ((AC)1 - beta1) * (gi - mi);
    AC vi = beta2 * (AC)v + ((AC)1 - beta2) * gi * gi;
    m = (T)mi;
    v = (T)vi;
    AMS
    AC denom = sqrt(vh) / bc2_sqrt + eps;
    p = (T)(pi - step_size * mi / denom);
'''
_ADAM_PARAMS = ('T g, ACT lr, ACT beta1, ACT beta2, ACT eps, ACT wd, ACT step_size, ACT bc2_sqrt, bool decoupled, '
                'bool maximize')


def _data(a):
    return getattr(a, '_data', a)


def fused_sgd_(params, grads, momentum_buffers, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
               maximize=False, first=None):
    """SGD (PyTorch's update rule) on whole lists of arrays (or Tensors) in place, one kernel per parameter.

    ``momentum_buffers``: a list of arrays (or None entries). ``first`` (a bool, or one per parameter) marks a
    parameter's first step, whose buffer is set to the gradient rather than updated; by default a step is first
    where its buffer is None (a buffer is then made). Returns the list of buffers (None entries when momentum is
    0)."""
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        p, g = _data(p), _data(g)
        buf = _data(momentum_buffers[i]) if momentum_buffers is not None else None
        is_first = first[i] if isinstance(first, (list, tuple)) else first
        if is_first is None:
            is_first = buf is None
        if isinstance(p, _np.ndarray):
            out.append(_np_sgd(p, g, buf, is_first, lr, momentum, dampening, weight_decay, nesterov, maximize))
            continue
        dt = p.dtype
        if momentum == 0:
            _elementwise('sgd', 'T g, ACT lr, ACT wd, bool maximize', 'T p', _SGD_PLAIN, dt)(
                g, _f(lr, dt), _f(weight_decay, dt), _np.bool_(maximize), p)
            out.append(None)
            continue
        if buf is None:
            buf = _cp().empty_like(p)
            is_first = True
        _elementwise('sgd_mom', 'T g, ACT lr, ACT wd, ACT momentum, ACT dampening, bool nesterov, bool first, '
                     'bool maximize', 'T p, T buf', _SGD_BODY, dt)(
            g, _f(lr, dt), _f(weight_decay, dt), _f(momentum, dt), _f(dampening, dt), _np.bool_(nesterov),
            _np.bool_(is_first), _np.bool_(maximize), p, buf)
        out.append(buf)
    return out


def _np_sgd(p, g, buf, first, lr, momentum, dampening, wd, nesterov, maximize):
    d = -g if maximize else g.copy()
    if wd:
        d = d + wd * p
    if momentum:
        if buf is None:
            buf = d.copy()
        elif first:
            buf[...] = d
        else:
            buf *= momentum
            buf += (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    p -= (lr * d).astype(p.dtype, copy=False)
    return buf if momentum else None


def fused_adam_(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                decoupled=False, amsgrad=False, max_exp_avg_sqs=None, maximize=False):
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) on whole lists in place, one kernel per parameter.

    ``steps``: the step number (after incrementing) for all parameters, or a list of one per parameter. With
    ``amsgrad`` the ``max_exp_avg_sqs`` list holds the running maxima. Returns None."""
    for i, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        p, g, m, v = _data(p), _data(g), _data(m), _data(v)
        step = steps[i] if isinstance(steps, (list, tuple)) else steps
        step = float(step)
        bc1 = 1.0 - beta1 ** step
        bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
        step_size = lr / bc1
        vmax = _data(max_exp_avg_sqs[i]) if amsgrad else None
        if isinstance(p, _np.ndarray):
            _np_adam(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, step_size, bc2_sqrt, maximize)
            continue
        dt = p.dtype
        args = (g, _f(lr, dt), _f(beta1, dt), _f(beta2, dt), _f(eps, dt), _f(weight_decay, dt), _f(step_size, dt),
                _f(bc2_sqrt, dt), _np.bool_(decoupled), _np.bool_(maximize))
        if amsgrad:
            body = _ADAM_BODY.replace('AMS', 'AC vh = max((AC)vmax, vi); vmax = (T)vh;')
            _elementwise('adam_ams', _ADAM_PARAMS, 'T p, T m, T v, T vmax', body, dt)(*args, p, m, v, vmax)
        else:
            body = _ADAM_BODY.replace('AMS', 'AC vh = vi;')
            _elementwise('adam', _ADAM_PARAMS, 'T p, T m, T v', body, dt)(*args, p, m, v)


def _np_adam(p, g, m, v, vmax, lr, beta1, beta2, eps, wd, decoupled, step_size, bc2_sqrt, maximize):
    gi = -g if maximize else g
    if wd:
        if decoupled:
            p *= 1 - lr * wd
        else:
            gi = gi + wd * p
    m += (1 - beta1) * (gi - m)
    v *= beta2
    v += (1 - beta2) * gi * gi
    vh = v
    if vmax is not None:
        _np.maximum(vmax, v, out=vmax)
        vh = vmax
    p -= (step_size * m / (_np.sqrt(vh) / bc2_sqrt + eps)).astype(p.dtype, copy=False)
