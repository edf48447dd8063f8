"""Finite-difference checks of analytic gradients (gradcheck) and of second derivatives (gradgradcheck), float64."""
import warnings


class GradcheckError(RuntimeError):
    """Analytic and numerical gradients disagree."""


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _jacobians(func, inputs, eps):
    """Numerical Jacobian of each output w.r.t. each differentiable input, by central differences."""
    from .grad_mode import no_grad
    outs = _as_tuple(func(*inputs))
    cols = []
    with no_grad():
        for t in inputs:
            if not (hasattr(t, 'requires_grad') and t.requires_grad):
                cols.append(None)
                continue
            flat = t._data.reshape(-1)
            per_out = [[] for _ in outs]
            for k in range(flat.size):
                orig = flat[k].item()
                flat[k] = orig + eps
                plus = [o._data.copy() for o in _as_tuple(func(*inputs))]
                flat[k] = orig - eps
                minus = [o._data.copy() for o in _as_tuple(func(*inputs))]
                flat[k] = orig
                for j, (p, m) in enumerate(zip(plus, minus)):
                    if p.dtype.kind == 'f':  # integer and bool outputs are not differentiable
                        per_out[j].append(((p - m) / (2 * eps)).reshape(-1))
            cols.append(per_out)
    return outs, cols


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False, fast_mode=False,
              masked=None):
    """True when the analytic gradients of ``func`` at ``inputs`` match central finite differences."""
    from .._tensor import Tensor
    from . import grad as autograd_grad
    inputs = _as_tuple(inputs)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError('gradcheck expects at least one input tensor to require gradient, but none of them have '
                         'requires_grad=True.')
    for i, t in enumerate(diff):
        if t.dtype.name != 'float64':
            warnings.warn(f'Input #{i} requires gradient and is not a double precision floating point '
                          f'({t.dtype.name}). This check will likely fail if all the inputs are not of double '
                          f'precision floating point.')
    outs, numeric = _jacobians(func, inputs, eps)
    xp = diff[0]._device.xp
    for j, out in enumerate(outs):
        if not isinstance(out, Tensor) or not out.requires_grad:
            continue
        n_out = out.numel()
        analytic = {id(t): xp.zeros((n_out, t.numel())) for t in diff}
        for r in range(n_out):
            seed = xp.zeros(n_out, dtype=out._data.dtype)
            seed[r] = 1
            from .._tensor import _wrap
            gs = autograd_grad([out], diff, [_wrap(seed.reshape(out.shape), out._device)], retain_graph=True,
                               allow_unused=True)
            for t, g in zip(diff, gs):
                if g is not None:
                    analytic[id(t)][r] = g._data.reshape(-1)
        k = 0
        for i, t in enumerate(inputs):
            if numeric[i] is None:
                continue
            num = xp.stack(numeric[i][j], axis=1) if numeric[i][j] else xp.zeros((n_out, 0))
            ana = analytic[id(t)]
            if not xp.allclose(ana, num, rtol=rtol, atol=atol):
                err = float(xp.abs(ana - num).max())
                msg = (f'Jacobian mismatch for output {j} with respect to input {i},\nnumerical:{num}\n'
                       f'analytical:{ana}\n(max abs difference {err:.3g})')
                if raise_exception:
                    raise GradcheckError(msg)
                return False
            k += 1
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception=True, nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
                  check_batched_grad=False, fast_mode=False, masked=False):
    """gradcheck of the gradients themselves (built with create_graph=True)."""
    from .._sampling import randn
    from .._tensor import Tensor
    from . import grad as autograd_grad
    inputs = _as_tuple(inputs)
    outs = _as_tuple(func(*inputs))
    if grad_outputs is None:
        grad_outputs = tuple(randn(o.shape, dtype=o.dtype, device=o.device, requires_grad=True) for o in outs
                             if isinstance(o, Tensor) and o.requires_grad)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)

    def first_grads(*args):
        from .grad_mode import enable_grad
        ins, gos = args[:n], args[n:]
        with enable_grad():  # gradcheck evaluates its function under no_grad for the numerical Jacobian
            outs = [o for o in _as_tuple(func(*ins)) if isinstance(o, Tensor) and o.requires_grad]
            diff = [t for t in ins if isinstance(t, Tensor) and t.requires_grad]
            gs = autograd_grad(outs, diff, list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None and g.requires_grad)
    return gradcheck(first_grads, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
