"""Whole-function derivatives built on grad(): jacobian, hessian, vjp, jvp."""


def _tuple(x):
    return x if isinstance(x, tuple) else (x,)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    from . import grad
    ins = tuple(t.detach().requires_grad_() for t in _tuple(inputs))
    out = func(*ins)
    gs = grad(_tuple(out), ins, None if v is None else _tuple(v), create_graph=create_graph, allow_unused=True,
              materialize_grads=True)
    out = out.detach() if not create_graph and hasattr(out, 'detach') else out
    return out, gs if isinstance(inputs, tuple) else gs[0]


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy='reverse-mode'):
    """d func / d inputs, shape out.shape + input.shape (one backward per output element)."""
    from . import grad
    from ..ops.shape import stack
    single = not isinstance(inputs, tuple)
    ins = tuple(t.detach().requires_grad_() for t in _tuple(inputs))
    out = func(*ins)
    flat = out.reshape(-1)
    rows = [[] for _ in ins]
    for k in range(flat.shape[0]):
        gs = grad(flat[k], ins, retain_graph=True, create_graph=create_graph, allow_unused=True,
                  materialize_grads=True)
        for r, g in zip(rows, gs):
            r.append(g)
    jac = tuple(stack(r).reshape(out.shape + t.shape) for r, t in zip(rows, ins))
    return jac[0] if single else jac


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy='reverse-mode'):
    from . import grad
    single = not isinstance(inputs, tuple)

    def gradient(*xs):
        out = func(*xs)
        gs = grad(out, xs, create_graph=True, allow_unused=True, materialize_grads=True)
        return gs[0] if single else gs
    if not single:
        raise NotImplementedError('hessian of several inputs is not supported by ember; pass one tensor')
    return jacobian(gradient, inputs, create_graph=create_graph)
