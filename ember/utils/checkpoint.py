"""Activation checkpointing: run a segment without keeping its intermediates and recompute it during backward."""
import contextlib
import warnings

__all__ = ['checkpoint', 'checkpoint_sequential', 'CheckpointFunction', 'noop_context_fn',
           'set_checkpoint_early_stop']


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


@contextlib.contextmanager
def set_checkpoint_early_stop(enable):
    yield  # ember's recomputation always runs the whole segment


def _is_tensor(x):
    from .._tensor import Tensor
    return isinstance(x, Tensor)


# ---- RNG state: the recomputation sees the random numbers the forward saw ------------------------------------------
def _rng_states():
    from ..backends.random import default_generator, _cuda_generators
    return [(default_generator, default_generator.get_state())] + [(g, g.get_state())
                                                                     for g in list(_cuda_generators.values())]


@contextlib.contextmanager
def _replay_rng(states):
    if states is None:
        yield
        return
    current = _rng_states()
    for g, s in states:
        g.set_state(s)
    try:
        yield
    finally:
        for g, s in current:
            g.set_state(s)


def _detached_inputs(args):
    out = []
    for a in args:
        if _is_tensor(a):
            d = a.detach()
            d.requires_grad = a.requires_grad
            out.append(d)
        else:
            out.append(a)
    return out


def _flat_outputs(outputs):
    if _is_tensor(outputs):
        return [outputs]
    if isinstance(outputs, (tuple, list)):
        return [o for o in outputs if _is_tensor(o)]
    return []


# ---- use_reentrant=True: a Function whose backward reruns the segment and calls backward inside ---------------------
def _make_reentrant():
    from ..autograd import Function

    class CheckpointFunction(Function):
        @staticmethod
        def forward(ctx, run_function, preserve_rng_state, *args):
            ctx.run_function = run_function
            ctx.rng = _rng_states() if preserve_rng_state else None
            ctx.tensor_pos = [i for i, a in enumerate(args) if _is_tensor(a)]
            ctx.others = [None if _is_tensor(a) else a for a in args]
            ctx.save_for_backward(*[a for a in args if _is_tensor(a)])
            outputs = run_function(*args)
            if isinstance(outputs, list):
                outputs = tuple(outputs)
            return outputs

        @staticmethod
        def backward(ctx, *grads):
            from ..autograd import backward as run_backward, enable_grad
            args = list(ctx.others)
            for i, t in zip(ctx.tensor_pos, ctx.saved_tensors):
                args[i] = t
            inputs = _detached_inputs(args)
            with _replay_rng(ctx.rng), enable_grad():
                outputs = ctx.run_function(*inputs)
            outs = _flat_outputs(outputs)
            pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad and g is not None]
            if not pairs:
                raise RuntimeError('none of output has requires_grad=True, this checkpoint() is not necessary')
            run_backward([o for o, _ in pairs], [g for _, g in pairs])
            return (None, None) + tuple(x.grad if _is_tensor(x) else None for x in inputs)

    return CheckpointFunction


def _make_nonreentrant():
    from ..autograd import Function

    class _NonReentrantCheckpoint(Function):
        @staticmethod
        def forward(ctx, spec, outputs, *tensors):
            ctx.spec = spec
            ctx.save_for_backward(*tensors[:spec['n_args']])
            return outputs

        @staticmethod
        def backward(ctx, *grads):
            from ..autograd import grad as autograd_grad, enable_grad
            spec = ctx.spec
            args = list(spec['others'])
            for i, t in zip(spec['tensor_pos'], ctx.saved_tensors):
                args[i] = t
            inputs = _detached_inputs(args)
            with _replay_rng(spec['rng']), enable_grad():
                outputs = spec['fn'](*inputs, **spec['kwargs'])
            outs = _flat_outputs(outputs)
            pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad and g is not None]
            targets = [inputs[i] for i in spec['tensor_pos']] + spec['external']
            want = [t.requires_grad for t in targets]
            res = [None] * len(targets)
            if pairs and any(want):
                got = autograd_grad([o for o, _ in pairs], [t for t, w in zip(targets, want) if w],
                                    [g for _, g in pairs], retain_graph=True, allow_unused=True)
                it = iter(got)
                res = [next(it) if w else None for w in want]
            return (None, None) + tuple(res)

    return _NonReentrantCheckpoint


CheckpointFunction = _make_reentrant()
_classes = {'reentrant': CheckpointFunction, 'nonreentrant': _make_nonreentrant()}


def _cls(name):
    return _classes[name]


def _leaves_of(outputs, skip):
    """Leaf tensors requiring grad that ``outputs`` were computed from, except those in ``skip`` (by id)."""
    from ..autograd.graph import Node
    seen_nodes, found, order = set(), {}, []
    stack = [o.grad_fn for o in outputs if o.grad_fn is not None]
    for o in outputs:
        if o.grad_fn is None and o.requires_grad and id(o) not in skip and id(o) not in found:
            found[id(o)] = o
            order.append(o)
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        for e in node.edges or ():
            if e is None:
                continue
            target = e[0]
            if isinstance(target, Node):
                stack.append(target)
            elif id(target) not in skip and id(target) not in found:
                found[id(target)] = target
                order.append(target)
    return order


def _checkpoint_nonreentrant(function, preserve_rng_state, args, kwargs):
    from ..autograd import enable_grad, is_grad_enabled
    if not is_grad_enabled():
        return function(*args, **kwargs)
    rng = _rng_states() if preserve_rng_state else None
    inputs = _detached_inputs(args)
    # one forward with the graph on tells which leaves (parameters, closed-over tensors) the segment reads; only the
    # output values are kept, the graph is dropped, and backward recomputes it
    with enable_grad():
        outputs = function(*inputs, **kwargs)
    skip = {id(x) for x in inputs if _is_tensor(x)}
    outs = _flat_outputs(outputs)
    external = _leaves_of(outs, skip)
    tensor_pos = [i for i, a in enumerate(args) if _is_tensor(a)]
    if not external and not any(args[i].requires_grad for i in tensor_pos):
        return outputs
    plain = tuple(o.detach() if _is_tensor(o) else o for o in outputs) if isinstance(outputs, (tuple, list)) \
        else (outputs.detach() if _is_tensor(outputs) else outputs)
    spec = {'fn': function, 'kwargs': kwargs, 'rng': rng, 'tensor_pos': tensor_pos, 'n_args': len(tensor_pos),
            'others': [None if _is_tensor(a) else a for a in args], 'external': external}
    was_list = isinstance(outputs, list)
    del outputs, outs
    res = _cls('nonreentrant').apply(spec, plain, *[args[i] for i in tensor_pos], *external)
    return list(res) if was_list else res


def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn, determinism_check='default',
               debug=False, preserve_rng_state=True, early_stop=True, **kwargs):
    """``function(*args, **kwargs)`` without storing its intermediate activations: backward recomputes them.

    Gradients equal those of the plain call. ``use_reentrant=True`` (the default when unspecified, with PyTorch's
    warning) needs an input that requires grad and reaches parameters through a backward call inside backward;
    ``use_reentrant=False`` also handles keyword arguments, inputs that need no grad and ``autograd.grad``."""
    if use_reentrant is None:
        warnings.warn('ember.utils.checkpoint: the use_reentrant parameter should be passed explicitly. '
                      'use_reentrant=False is recommended, but if you need to preserve the current default behavior, '
                      'you can pass use_reentrant=True.', stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if context_fn is not noop_context_fn or debug:
            raise ValueError('Passing `context_fn` or `debug` is only supported when use_reentrant=False.')
        if kwargs:
            raise ValueError('Unexpected keyword arguments: ' + ','.join(kwargs))
        from ..autograd import is_grad_enabled
        if is_grad_enabled() and not any(_is_tensor(a) and a.requires_grad for a in args):
            warnings.warn('None of the inputs have requires_grad=True. Gradients will be None', stacklevel=2)
        return _cls('reentrant').apply(function, preserve_rng_state, *args)
    return _checkpoint_nonreentrant(function, preserve_rng_state, args, kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (a Sequential or a list of modules) in ``segments`` chunks, checkpointing all but the last."""
    if use_reentrant is None:
        warnings.warn('ember.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed '
                      'explicitly. use_reentrant=False is recommended.', stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop('preserve_rng_state', True)
    if kwargs:
        raise ValueError('Unexpected keyword arguments: ' + ','.join(kwargs))
    fns = list(functions.children()) if hasattr(functions, 'children') else list(functions)

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = fns[j](x)
            return x
        return forward

    size = len(fns) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run(end + 1, len(fns) - 1)(input)
