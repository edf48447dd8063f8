"""The recorded graph: one Node per op result, edges to the inputs' nodes (or leaf tensors), and the backward engine."""
import weakref

from .grad_mode import _State
from ..utils.hooks import add_hook

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they have "
          "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
          "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
          "if you need to access saved tensors after calling backward.")


class Node:
    """A recorded op. ``edges[i]`` is ``(node_or_leaf_tensor, output_index)`` for input i, or None when input i
    needs no gradient; ``fns[i](grad)`` computes input i's gradient from the output's (Tensor ops, so a
    backward run with grad enabled builds a graph of its own: that is how create_graph works)."""
    __slots__ = ('_name', 'edges', 'fns', 'saved', 'versions', 'n_out', 'hooks', 'retained', 'trace',
                 'metadata', 'out_vc', '__weakref__')

    def __init__(self, name, edges, fns, saved=()):
        self._name, self.edges, self.fns = name, edges, fns
        self.n_out = 1
        self.hooks = self.retained = self.trace = self.metadata = self.out_vc = None
        if saved:
            self.saved = saved
            self.versions = tuple(t._vc[0] if t._vc is not None else 0 for t in saved)
        else:
            self.saved = self.versions = ()

    def apply(self, grads):
        """Gradients for each edge given the output gradient(s); None where an edge needs none."""
        g = grads[0]
        return [fn(g) if e is not None else None for fn, e in zip(self.fns, self.edges)]

    def check_saved(self):
        if self.fns is None:
            raise RuntimeError(_FREED)
        if self.out_vc is not None and self.out_vc[0] != 0:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"output 0 of {self._name} (which its backward reuses) is at version {self.out_vc[0]}; expected "
                f"version 0 instead. Hint: clone() the result before modifying it in place, or use the "
                f"out-of-place op.")
        for t, v in zip(self.saved, self.versions):
            now = t._vc[0] if t._vc is not None else 0
            if now != v:
                shape = 'x'.join(map(str, t.shape)) or 'scalar'
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{t.dtype.name} tensor of shape [{shape}]] saved by {self._name} is at version "
                    f"{now}; expected version {v} instead. Hint: clone() the tensor before modifying it in place, "
                    f"or enable anomaly detection to find the op that created it.")

    def release(self):
        # Like PyTorch, only a node that saved tensors or arrays (inputs, its own output, masks) frees them and
        # refuses a second backward; one that kept nothing but shapes or Python numbers can run again.
        if self.saved or self.out_vc is not None or (self.fns is not None and _holds_data(self.fns)):
            self.fns = None
            self.saved = ()

    # PyTorch's introspection API
    def name(self):
        return self._name

    @property
    def next_functions(self):
        out = []
        for e in self.edges:
            if e is None:
                out.append((None, 0))
            elif isinstance(e[0], Node):
                out.append(e)
            else:
                out.append((AccumulateGrad(e[0]), 0))
        return tuple(out)

    def register_hook(self, fn):
        raise NotImplementedError('Node.register_hook is not supported; use Tensor.register_hook')

    def __repr__(self):
        return f'<{self._name} object at {id(self):#x}>'

    def __call__(self, *grads):
        return self.apply(list(grads))



def _holds_data(fns, depth=2):
    """Whether backward closures keep a tensor or an array alive (looking into nested closures and tuples too)."""
    from .._tensor import Tensor

    def is_data(v):
        return isinstance(v, Tensor) or hasattr(v, '__array_interface__') or hasattr(v, '__cuda_array_interface__')
    for fn in fns:
        for cell in getattr(fn, '__closure__', None) or ():
            try:
                v = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            items = v if isinstance(v, (tuple, list)) else (v,)
            if any(is_data(x) for x in items):
                return True
            if depth and _holds_data([x for x in items if callable(x)], depth - 1):
                return True
    return False


class AccumulateGrad:
    """Stand-in shown by ``next_functions`` for a leaf: the place its gradient accumulates."""
    __slots__ = ('variable',)

    def __init__(self, variable):
        self.variable = variable

    next_functions = ()

    def name(self):
        return 'AccumulateGrad'

    def __repr__(self):
        return f'<AccumulateGrad object at {id(self):#x}>'


def add_tensor_hook(t, fn):
    """Register ``fn(grad) -> grad or None`` on tensor t; returns a handle with remove()."""
    if t.grad_fn is None:
        if t._hooks is None:
            t._hooks = {}
        hooks = t._hooks
    else:
        node = t.grad_fn
        if node.hooks is None:
            node.hooks = {}
        hooks = node.hooks.setdefault(t._out, {})
    return add_hook(hooks, fn)


def add_post_accumulate_hook(t, fn):
    """Register ``fn(t)`` to run each time a gradient has been accumulated into leaf t's ``.grad``."""
    hooks = t.__dict__.get('_post_acc_hooks')
    if hooks is None:
        hooks = t._post_acc_hooks = {}
    return add_hook(hooks, fn)


_callbacks = []  # one list per backward pass now running (a nested pass pushes its own)


def queue_callback(fn):
    """Run ``fn()`` once the backward pass now running has finished (PyTorch's
    ``Variable._execution_engine.queue_callback``); dropped if the pass raises."""
    if not _callbacks:
        raise RuntimeError('queue_callback can only be called while a backward pass is running')
    _callbacks[-1].append(fn)


def _run_hooks(hooks, g):
    for h in tuple(hooks.values()):
        r = h(g)
        if r is not None:
            g = r
    return g


def _collect(roots):
    """Count, for every node reachable from the roots, how many edges point at it."""
    deps = {}
    stack = [n for n in roots]
    seen = set(map(id, stack))
    nodes = list(stack)
    while stack:
        node = stack.pop()
        for e in node.edges:
            if e is None or not isinstance(e[0], Node):
                continue
            child = e[0]
            deps[child] = deps.get(child, 0) + 1
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
                nodes.append(child)
    return deps


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None, allow_unused=False):
    """Propagate gradients from ``tensors`` (seeded with ``grad_tensors``) through the graph.

    Without ``inputs`` gradients accumulate into leaves' ``.grad``; with ``inputs`` (autograd.grad) they are
    returned for those tensors instead and no ``.grad`` changes.
    """
    from .._tensor import Tensor
    capture = None
    if inputs is not None:
        capture = {}
        for i, t in enumerate(inputs):
            key = (id(t.grad_fn), t._out) if t.grad_fn is not None else id(t)
            capture.setdefault(key, []).append(i)
        results = [None] * len(inputs)
    buffers = {}
    roots, leaf_roots = [], []
    for t, g in zip(tensors, grad_tensors):
        if t.grad_fn is None:
            leaf_roots.append((t, g))
            continue
        node = t.grad_fn
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node.n_out
            roots.append(node)
        buf[t._out] = g if buf[t._out] is None else buf[t._out] + g
    # gradients someone else can see (the seeds, what hooks got or returned, retained .grad): a leaf must copy
    # them rather than adopt them, or a later in-place accumulation / grad.zero_() would leak into them
    exposed = {id(g) for g in grad_tensors}
    prev = _State.grad_enabled
    _State.grad_enabled = bool(create_graph)
    _callbacks.append([])
    try:
        for t, g in leaf_roots:
            _deliver_leaf(t, g, capture, results if capture is not None else None, create_graph, True)
        deps = _collect(roots)
        ready = [n for n in roots if deps.get(n, 0) == 0]
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            if grads is not None:
                if node.hooks or node.retained:
                    _node_hooks(node, grads, exposed)
                if capture is not None:
                    for idx, g in enumerate(grads):
                        hit = capture.get((id(node), idx))
                        if hit is not None and g is not None:
                            for i in hit:
                                results[i] = g
                node.check_saved()
                if node.n_out > 1 or any(g is None for g in grads):
                    grads = _fill(node, grads)
                if grads is not None:
                    outs = node.apply(grads)
                    if _State.anomaly:
                        _check_backward(node, outs)
                    shared = len(outs) > 1 and len({id(o) for o in outs if o is not None}) < sum(
                        o is not None for o in outs)
                    for e, g in zip(node.edges, outs):
                        if e is None or g is None:
                            continue
                        target, idx = e
                        if isinstance(target, Node):
                            buf = buffers.get(target)
                            if buf is None:
                                buf = buffers[target] = [None] * target.n_out
                            buf[idx] = g if buf[idx] is None else buf[idx] + g
                        else:
                            _deliver_leaf(target, g, capture, results if capture is not None else None,
                                          create_graph, shared or id(g) in exposed)
            if not retain_graph:
                node.release()
            for e in node.edges:
                if e is not None and isinstance(e[0], Node):
                    child = e[0]
                    deps[child] -= 1
                    if deps[child] == 0:
                        ready.append(child)
    finally:
        _State.grad_enabled = prev
        queued = _callbacks.pop()
    for fn in queued:  # queue_callback: run once the pass has finished without error
        fn()
    if capture is not None:
        for i, t in enumerate(inputs):
            if results[i] is None and not allow_unused:
                raise RuntimeError(f'One of the differentiated Tensors (input {i}, shape {tuple(t.shape)}) appears '
                                   f'to not have been used in the graph. Set allow_unused=True if this is the '
                                   f'desired behavior.')
        return tuple(results)
    return None


def _fill(node, grads):
    """Materialise missing output gradients as zeros (None if every one is missing)."""
    if all(g is None for g in grads):
        return None
    if node.n_out == 1:
        return grads
    return [g if g is not None else node.metadata['zeros'](i) for i, g in enumerate(grads)]


def _node_hooks(node, grads, exposed):
    if node.hooks:
        for idx, hooks in node.hooks.items():
            if grads[idx] is not None:
                exposed.add(id(grads[idx]))
                grads[idx] = _run_hooks(hooks, grads[idx])
                exposed.add(id(grads[idx]))
    if node.retained:
        for idx, ref in node.retained.items():
            t = ref()
            if t is not None and grads[idx] is not None:
                exposed.add(id(grads[idx]))
                # a copy, as PyTorch's retain_grad keeps: the gradient itself flows on and may be adopted
                g = grads[idx] if _State.grad_enabled else grads[idx]._detached_copy()
                t.grad = g if t.grad is None else t.grad + g


def _deliver_leaf(t, g, capture, results, create_graph, shared):
    if t._hooks:
        g = _run_hooks(t._hooks, g)
        shared = True  # a hook may have kept g, or returned a tensor it keeps
    if capture is not None:
        hit = capture.get(id(t))
        if hit is not None:
            for i in hit:
                results[i] = g if results[i] is None else results[i] + g
        return
    if not t.requires_grad:
        return
    if g.shape != t.shape:
        raise RuntimeError(f'gradient of shape {tuple(g.shape)} does not match leaf tensor of shape {tuple(t.shape)}')
    if t.grad is None:
        if create_graph:
            t.grad = g
        else:
            arr = g._data
            # Take the array without a copy only when nothing else can see it, so later in-place accumulation
            # (and the user's grad.zero_()) cannot leak into another tensor's gradient.
            own = not shared and arr.base is None and arr.flags.writeable and g.grad_fn is None and g._vc is None
            t.grad = g if own and not g.requires_grad else g._detached_copy(copy=not own)
    elif create_graph or t.grad.requires_grad:
        t.grad = t.grad + g
    else:
        t.grad._accumulate_(g)
    if t._post_acc_hooks:
        for h in tuple(t._post_acc_hooks.values()):
            h(t)


def _check_backward(node, outs):
    for i, g in enumerate(outs):
        if g is not None and g.dtype.is_floating_point and not g._device.xp.isfinite(g._data).all():
            where = f'\n{node.trace}' if node.trace else ''
            raise RuntimeError(f"Function '{node._name}' returned nan or inf values in its {i}th output (the "
                               f"gradient for its input {i}, shape {tuple(g.shape)} {g.dtype.name}); the op was "
                               f"created at:{where}" if where else
                               f"Function '{node._name}' returned nan or inf values in its {i}th output (the "
                               f"gradient for its input {i}, shape {tuple(g.shape)} {g.dtype.name}); enable "
                               f"anomaly detection before the forward pass to see the line that created it.")


def make_saved_output(node, data, device):
    """A getter for an op's own output inside its backward, without a node->output->node cycle.

    With create_graph the output is rebuilt attached to ``node`` so second derivatives flow through it.
    """
    ref = weakref.ref(node)

    def get():
        from .._tensor import _wrap
        t = _wrap(data, device)
        if _State.grad_enabled:
            t.requires_grad, t.grad_fn = True, ref()
        return t
    return get
