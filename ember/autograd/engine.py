"""The backward engine: from the outputs' gradients, run every node's backward once, in dependency order.

A pass: count how many edges point at each reachable node; take nodes whose consumers are all done; for each,
run its hooks, check its saved tensors, call its backward and route each input's gradient either into the buffer of
the node that made the input (summed there) or to a leaf. Where leaf gradients go is the pass's *sink*: accumulated
into ``.grad`` (``backward()``) or captured and returned (``autograd.grad``). Tensor hooks, retained gradients and
anomaly checks are policies applied per node; a node frees what it saved once done unless the graph is retained.
"""
from .grad_mode import _State
from .graph import Node

_callbacks = []  # one list per backward pass now running (a nested pass pushes its own)


def queue_callback(fn):
    """Run ``fn()`` once the backward pass now running has finished (PyTorch's
    ``Variable._execution_engine.queue_callback``); dropped if the pass raises."""
    if not _callbacks:
        raise RuntimeError('queue_callback can only be called while a backward pass is running')
    _callbacks[-1].append(fn)


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None, allow_unused=False):
    """Propagate ``grad_tensors`` from ``tensors`` through the graph.

    Without ``inputs`` gradients accumulate into leaves' ``.grad``; with ``inputs`` (autograd.grad) they are
    returned for those tensors instead and no ``.grad`` changes.
    """
    sink = _Capture(inputs) if inputs is not None else _Accumulate(create_graph)
    buffers, roots, leaf_roots = {}, [], []
    for t, g in zip(tensors, grad_tensors):
        if t.grad_fn is None:
            leaf_roots.append((t, g))
        else:
            if t.grad_fn not in buffers:
                roots.append(t.grad_fn)
            _add_to_buffer(buffers, t.grad_fn, t._out, g)
    # gradients someone else can see (the seeds, what hooks got or returned, retained .grad): a leaf must copy
    # them rather than adopt them, or a later in-place accumulation / grad.zero_() would leak into them
    exposed = {id(g) for g in grad_tensors}
    prev = _State.grad_enabled
    _State.grad_enabled = bool(create_graph)
    _callbacks.append([])
    try:
        for t, g in leaf_roots:
            sink.leaf(t, g, True)
        deps = _count_consumers(roots)
        ready = [n for n in roots if n not in deps]
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            if grads is not None:
                _run_node(node, grads, buffers, sink, exposed)
            if not retain_graph:
                node.release()
            for e in node.edges:
                if e is not None:
                    child = e[0]
                    if isinstance(child, Node):
                        n = deps[child] - 1
                        if n:
                            deps[child] = n
                        else:
                            ready.append(child)
    finally:
        _State.grad_enabled = prev
        queued = _callbacks.pop()
    for fn in queued:  # queue_callback: run once the pass has finished without error
        fn()
    return sink.result(allow_unused)


def _run_node(node, grads, buffers, sink, exposed):
    """One node's step: hooks and captures on its output gradients, its backward, and the routing of the result."""
    if node.hooks or node.retained:
        _node_hooks(node, grads, exposed)
    if sink.captures:
        sink.node(node, grads)
    if type(node) is not Node or node.saved or node.fns is None or node.out_vc is not None:
        node.check_saved()  # (a plain node that saved nothing has nothing to check)
    if node.n_out > 1 or grads[0] is None:
        grads = _fill(node, grads)
        if grads is None:
            return
    outs = node.apply(grads)
    if _State.anomaly:
        _check_backward(node, outs)
    if len(outs) == 1:
        g = outs[0]
        e = node.edges[0]
        if e is None or g is None:
            return
        target = e[0]
        if isinstance(target, Node):
            _add_to_buffer(buffers, target, e[1], g)
        else:
            sink.leaf(target, g, id(g) in exposed)
        return
    # one tensor returned for two inputs must not be adopted as both leaves' .grad
    if len(outs) == 2:
        shared = outs[0] is outs[1] and outs[0] is not None
    else:
        shared = len({id(o) for o in outs if o is not None}) < sum(o is not None for o in outs)
    for e, g in zip(node.edges, outs):
        if e is None or g is None:
            continue
        target, idx = e
        if isinstance(target, Node):
            _add_to_buffer(buffers, target, idx, g)
        else:
            sink.leaf(target, g, shared or id(g) in exposed)


def _add_to_buffer(buffers, node, idx, g):
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * node.n_out
    buf[idx] = g if buf[idx] is None else buf[idx] + g


def _count_consumers(roots):
    """For every node reachable from the roots, how many edges point at it."""
    deps = {}
    stack = list(roots)
    seen = set(map(id, stack))
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
    return deps


def _fill(node, grads):
    """Materialise missing output gradients as zeros (None if every one is missing)."""
    if all(g is None for g in grads):
        return None
    if node.n_out == 1:
        return grads
    return [g if g is not None else node.metadata['zeros'](i) for i, g in enumerate(grads)]


# ---- policies: hooks and retained gradients, anomaly checks ---------------------------------------------------------

def _run_hooks(hooks, g):
    for h in tuple(hooks.values()):
        r = h(g)
        if r is not None:
            g = r
    return g


def _node_hooks(node, grads, exposed):
    """Tensor hooks registered on this node's outputs, and ``retain_grad`` copies, in PyTorch's order."""
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


def _check_backward(node, outs):
    """Anomaly mode: a backward that returns nan or inf names its op (and the line that created it)."""
    for i, g in enumerate(outs):
        if g is not None and g.dtype.is_floating_point and not g._device.xp.isfinite(g._data).all():
            head = (f"Function '{node._name}' returned nan or inf values in its {i}th output (the gradient for its "
                    f"input {i}, shape {tuple(g.shape)} {g.dtype.name});")
            if node.trace:
                raise RuntimeError(f'{head} the op was created at:\n{node.trace}')
            raise RuntimeError(f'{head} enable anomaly detection before the forward pass to see the line that '
                               f'created it.')


# ---- sinks: where leaf gradients go ---------------------------------------------------------------------------------

class _Accumulate:
    """backward(): each leaf that requires grad gets the gradient added to its ``.grad``."""
    captures = False  # node() sees nothing

    def __init__(self, create_graph):
        self.create_graph = create_graph

    def node(self, node, grads):
        pass

    def leaf(self, t, g, shared):
        if t._hooks:
            g = _run_hooks(t._hooks, g)
            shared = True  # a hook may have kept g, or returned a tensor it keeps
        if not t.requires_grad:
            return
        if g.shape != t.shape:
            raise RuntimeError(f'gradient of shape {tuple(g.shape)} does not match leaf tensor of shape '
                               f'{tuple(t.shape)}')
        if t.grad is None:
            if self.create_graph:
                t.grad = g
            else:
                arr = g._data
                # Take the array without a copy only when nothing else can see it, so later in-place accumulation
                # (and the user's grad.zero_()) cannot leak into another tensor's gradient.
                own = not shared and arr.base is None and arr.flags.writeable and g.grad_fn is None and g._vc is None
                t.grad = g if own and not g.requires_grad else g._detached_copy(copy=not own)
        elif self.create_graph or t.grad.requires_grad:
            t.grad = t.grad + g
        else:
            t.grad._accumulate_(g)
        if t._post_acc_hooks:
            for h in tuple(t._post_acc_hooks.values()):
                h(t)

    def result(self, allow_unused):
        return None


class _Capture:
    """autograd.grad(): the gradients reaching ``inputs`` (leaves or intermediate tensors) are returned."""
    captures = True

    def __init__(self, inputs):
        self.inputs = inputs
        self.where = {}
        for i, t in enumerate(inputs):
            key = (id(t.grad_fn), t._out) if t.grad_fn is not None else id(t)
            self.where.setdefault(key, []).append(i)
        self.results = [None] * len(inputs)

    def node(self, node, grads):
        for idx, g in enumerate(grads):
            hit = self.where.get((id(node), idx))
            if hit is not None and g is not None:
                for i in hit:
                    self.results[i] = g

    def leaf(self, t, g, shared):
        if t._hooks:
            g = _run_hooks(t._hooks, g)
        hit = self.where.get(id(t))
        if hit is not None:
            for i in hit:
                self.results[i] = g if self.results[i] is None else self.results[i] + g

    def result(self, allow_unused):
        for i, t in enumerate(self.inputs):
            if self.results[i] is None and not allow_unused:
                raise RuntimeError(f'One of the differentiated Tensors (input {i}, shape {tuple(t.shape)}) appears '
                                   f'to not have been used in the graph. Set allow_unused=True if this is the '
                                   f'desired behavior.')
        return tuple(self.results)
