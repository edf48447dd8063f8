"""The recorded graph: one Node per op result with edges to its inputs' nodes (or leaf tensors), and tensor hooks."""
import weakref

from .grad_mode import _State
from ..utils.hooks import add_hook
from .._tensor_core import _wrap

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they have "
          "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
          "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
          "if you need to access saved tensors after calling backward.")


class Node:
    """A recorded op. ``edges[i]`` is ``(node_or_leaf_tensor, output_index)`` for input i, or None when input i
    needs no gradient; ``fns[i](grad)`` computes input i's gradient from the output's (Tensor ops, so a
    backward run with grad enabled builds a graph of its own: that is how create_graph works).

    ``saved``: the tensors the backward reads, checked against in-place edits; ``holds``: the backward closures keep
    other arrays or tensors (masks, indices, factorizations) alive, so, as for saved tensors, backward frees them
    and a second backward raises."""
    __slots__ = ('_name', 'edges', 'fns', 'saved', 'versions', 'n_out', 'hooks', 'retained', 'trace',
                 'metadata', 'out_vc', 'holds', '__weakref__')

    def __init__(self, name, edges, fns, saved=(), holds=False):
        self._name, self.edges, self.fns, self.holds = name, edges, fns, holds
        self.n_out = 1
        self.hooks = self.retained = self.trace = self.metadata = self.out_vc = None
        if saved:
            self.saved = saved
            self.versions = tuple([t._vc[0] if t._vc is not None else 0 for t in saved])
        else:
            self.saved = self.versions = ()

    def apply(self, grads):
        """Gradients for each edge given the output gradient(s); None where an edge needs none. An op recorded by
        ``ops._util.record_joint`` has one backward, ``fns(grads)``, giving every input's gradient at once."""
        if callable(self.fns):
            return self.fns(grads)
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
        if self.saved or self.holds or self.out_vc is not None:
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


def make_saved_output(node, data, device):
    """A getter for an op's own output inside its backward, without a node->output->node cycle.

    With create_graph the output is rebuilt attached to ``node`` so second derivatives flow through it.
    """
    ref = weakref.ref(node)

    def get():
        t = _wrap(data, device)
        if _State.grad_enabled:
            t.requires_grad, t.grad_fn = True, ref()
        return t
    return get
