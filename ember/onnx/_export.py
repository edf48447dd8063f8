"""The ONNX exporter: trace one forward call (module calls and tensor ops report to a tracer) and emit a graph."""
import builtins
import inspect
import warnings

import numpy as np

__all__ = ['export', 'is_in_onnx_export', 'OnnxExportError']


class OnnxExportError(RuntimeError):
    """Raised when part of a model has no ONNX export rule (the message names the op or module)."""


_ONNX_TYPES = {'float32': 1, 'uint8': 2, 'int8': 3, 'int16': 5, 'int32': 6, 'int64': 7, 'bool': 9, 'float16': 10,
               'float64': 11}

_tracer = None  # the active _Graph while export() runs


def is_in_onnx_export():
    return _tracer is not None


def onnx_type(np_dtype):
    try:
        return _ONNX_TYPES[np.dtype(np_dtype).name]
    except KeyError:
        raise OnnxExportError(f'ember.onnx.export: dtype {np_dtype} has no ONNX mapping here') from None


class _Graph:
    """What the tracer builds: ONNX nodes, initializers and the map from traced tensors to value names."""

    def __init__(self, opset, param_names, export_params):
        from onnx import helper
        self.helper, self.opset = helper, opset
        self.nodes, self.initializers, self.extra_inputs = [], [], []
        self.names, self.dynamic, self.keep = {}, set(), []
        self.param_names, self.export_params = param_names, export_params
        self.used = set()
        self.counter = 0
        self.depth = 0

    # ---- names ----------------------------------------------------------------------------------------------------
    def fresh(self, base):
        self.counter += 1
        name = f'{base}_{self.counter}'
        while name in self.used:
            self.counter += 1
            name = f'{base}_{self.counter}'
        self.used.add(name)
        return name

    def bind(self, t, name):
        """``t`` (a traced tensor) is now ONNX value ``name`` (a later in-place op rebinds it)."""
        self.names[id(t)] = name
        self.dynamic.add(id(t))
        self.keep.append(t)

    def is_dynamic(self, t):
        return id(t) in self.dynamic

    def name(self, t, dtype=None):
        """The ONNX value for ``t``: traced tensors by name; others become initializers (parameters under their
        state-dict names); Python numbers become constants of ``dtype``."""
        from .._tensor import Tensor
        key = id(t)
        if key in self.names:
            return self.names[key]
        if not isinstance(t, Tensor):
            return self.const(np.asarray(t, dtype=dtype))
        if t.grad_fn is not None:
            raise OnnxExportError(
                f'ember.onnx.export: a tensor the model uses was computed from its inputs by an operation the '
                f'exporter did not see (autograd nodes {_chain(t.grad_fn)}, shape {list(t.shape)}): no export rule '
                f'covers it, or it was called through a reference the tracer cannot intercept (e.g. a function '
                f'imported by name before export). Use ember ops through ember.*, ember.nn.functional.* or Tensor '
                f'methods, or a module with an export rule.')
        if t.is_sparse:
            raise OnnxExportError('ember.onnx.export: sparse tensors cannot be exported')
        arr = np.asarray(t.detach().cpu().numpy())
        pname = self.param_names.get(key)
        if pname is not None and not self.export_params:
            name = pname
            self.used.add(name)
            self.extra_inputs.append(self.helper.make_tensor_value_info(name, onnx_type(arr.dtype), list(arr.shape)))
        else:
            name = self.const(arr, name=pname)
        self.names[key] = name
        self.keep.append(t)
        return name

    def const(self, arr, dtype=None, name=None):
        from onnx import numpy_helper
        arr = np.asarray(arr, dtype=dtype)
        if name is None or name in self.used:
            name = self.fresh('onnx::Constant' if name is None else name)
        else:
            self.used.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def ints(self, values):
        return self.const(np.asarray(list(values), dtype=np.int64))

    def op(self, op_type, inputs, n_out=1, name_hint=None, **attrs):
        outs = [self.fresh(name_hint or op_type) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, name=self.fresh(f'/{op_type}'),
                                                **attrs))
        return outs[0] if n_out == 1 else outs


def _chain(node, limit=6):
    """The autograd node names from ``node`` back towards the inputs (first branch), for error messages."""
    names = []
    while node is not None and len(names) < limit:
        names.append(node.name())
        nxt = None
        for e in node.edges or ():
            if e is not None and hasattr(e[0], 'edges'):
                nxt = e[0]
                break
        node = nxt
    return ' <- '.join(names)


# ---- interception: tensor methods, ember.* and ember.nn.functional.* functions, Module.__call__ ----------------------
_SKIP_METHODS = {
    'size', 'dim', 'ndimension', 'numel', 'nelement', 'element_size', 'stride', 'storage_offset', 'is_contiguous',
    'is_floating_point', 'is_complex', 'data_ptr', 'item', 'tolist', 'numpy', 'type', 'register_hook',
    'register_post_accumulate_grad_hook', 'retain_grad', 'requires_grad_', 'backward', 'share_memory_', 'is_shared',
    'new_zeros', 'new_ones', 'new_empty', 'new_full', 'new_tensor', 'apply_', 'map_', 'get_device',
}
_SKIP_DUNDER_OK = {
    '__add__', '__radd__', '__sub__', '__rsub__', '__mul__', '__rmul__', '__truediv__', '__rtruediv__',
    '__floordiv__', '__rfloordiv__', '__mod__', '__rmod__', '__pow__', '__rpow__', '__matmul__', '__rmatmul__',
    '__neg__', '__abs__', '__invert__', '__and__', '__or__', '__xor__', '__rand__', '__ror__', '__rxor__', '__eq__',
    '__ne__', '__lt__', '__le__', '__gt__', '__ge__', '__getitem__', '__setitem__', '__iadd__', '__isub__',
    '__imul__', '__itruediv__', '__ipow__', '__pos__',
}
_DUNDER = {'__radd__': 'add', '__rmul__': 'mul', '__iadd__': 'add_', '__isub__': 'sub_', '__imul__': 'mul_',
           '__itruediv__': 'div_', '__ipow__': 'pow_', '__truediv__': 'div', '__rtruediv__': 'rdiv',
           '__rsub__': 'rsub', '__rpow__': 'rpow', '__rmatmul__': 'rmatmul', '__pos__': 'identity',
           '__invert__': 'bitwise_not', '__and__': 'bitwise_and', '__or__': 'bitwise_or', '__rand__': 'bitwise_and',
           '__ror__': 'bitwise_or', '__floordiv__': 'floor_divide', '__mod__': 'remainder'}


_EMBER_LEVEL_OPS = {'broadcast_tensors', 'lerp', 'addcmul', 'addcdiv', 'clone', 'detach', 'cdist', 'zeros_like',
                    'ones_like', 'full_like', 'empty_like'}


def _op_key(kind, name):
    if name.startswith('__'):
        return _DUNDER.get(name, name.strip('_'))
    return name


class _Bound:
    """An intercepted call's arguments: ``a[i]`` positionally (in the callee's signature order), ``a.get(name)``."""
    __slots__ = ('values', 'named')

    def __init__(self, fn, args, kwargs):
        try:
            sig = _sig(fn)
            ba = sig.bind(*args, **kwargs)
            ba.apply_defaults()
            self.named = dict(ba.arguments)
            vals = []
            for p in sig.parameters.values():
                v = ba.arguments.get(p.name)
                if p.kind is p.VAR_POSITIONAL:
                    vals.append(tuple(v or ()))
                elif p.kind is p.VAR_KEYWORD:
                    continue
                else:
                    vals.append(v)
            self.values = vals
        except (TypeError, ValueError):
            self.values, self.named = list(args), dict(kwargs)

    def __getitem__(self, i):
        return self.values[i] if i < len(self.values) else None

    def __len__(self):
        return len(self.values)

    def get(self, name, default=None):
        return self.named.get(name, default)


_sigs = {}


def _sig(fn):
    s = _sigs.get(fn)
    if s is None:
        s = _sigs[fn] = inspect.signature(fn)
    return s


def _tensors_in(values):
    from .._tensor import Tensor
    for v in values:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _tensors_in(v)
        elif isinstance(v, dict):
            yield from _tensors_in(v.values())


def _outputs(out):
    from .._tensor import Tensor
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _outputs(o)]
    return []


def _record_op(kind, name, fn, args, kwargs, out):
    g = _tracer
    if not any(g.is_dynamic(t) for t in _tensors_in(list(args) + list(kwargs.values()))):
        return  # nothing traced flows in: the result is a constant (folded)
    from . import _rules
    key = _op_key(kind, name)
    rule = None
    if kind == 'method':
        rule = _rules.METHOD_RULES.get(key)
    elif kind == 'F':
        rule = _rules.F_RULES.get(key)
    if rule is None:
        rule = _rules.OP_RULES.get(key)
    if rule is None and key.endswith('_') and not key.endswith('__'):
        base = _rules.OP_RULES.get(key[:-1]) or (_rules.F_RULES.get(key[:-1]) if kind == 'F' else None)
        if base is not None:
            rule = base
    if rule is None:
        where = {'method': 'Tensor.', 'F': 'ember.nn.functional.', 'fn': 'ember.'}[kind]
        raise OnnxExportError(f"ember.onnx.export: no ONNX export rule for op '{where}{name}'")
    res = rule(g, _Bound(fn, args, kwargs), out)
    _bind_results(g, out, res)


def _bind_results(g, out, res):
    outs = _outputs(out)
    names = res if isinstance(res, (list, tuple)) else [res]
    if len(names) < len(outs):
        names = list(names) + [None] * (len(outs) - len(names))
    for t, n in zip(outs, names):
        if n is not None:
            g.bind(t, n)


def _wrap_callable(kind, name, fn):
    def traced(*args, **kwargs):
        g = _tracer
        if g is None or g.depth:
            return fn(*args, **kwargs)
        g.depth += 1
        try:
            out = fn(*args, **kwargs)
        finally:
            g.depth -= 1
        _record_op(kind, name, fn, args, kwargs, out)
        return out
    traced.__name__ = getattr(fn, '__name__', name)
    traced.__wrapped__ = fn
    return traced


def _wrap_property(name, prop):
    def getter(self):
        g = _tracer
        if g is None or g.depth:
            return prop.fget(self)
        g.depth += 1
        try:
            out = prop.fget(self)
        finally:
            g.depth -= 1
        _record_op('method', name, lambda a: None, (self,), {}, out)
        return out
    return property(getter)


def _module_call(orig):
    def call(self, *args, **kwargs):
        g = _tracer
        if g is None or g.depth:
            return orig(self, *args, **kwargs)
        from . import _rules
        rule = _rules.module_rule(self)
        if rule is None:
            return orig(self, *args, **kwargs)
        g.depth += 1
        try:
            out = orig(self, *args, **kwargs)
        finally:
            g.depth -= 1
        if any(g.is_dynamic(t) for t in _tensors_in(list(args) + list(kwargs.values()))):
            res = rule(g, self, _Bound(type(self).forward, (self,) + args, kwargs), out)
            _bind_results(g, out, res)
        return out
    return call


_INHERITED = object()  # marks a patched name that Tensor inherited rather than defined


class _Patches:
    """Swap in the tracing wrappers for the duration of one export (and always restore them)."""

    def __init__(self):
        self.saved = []

    def _set(self, owner, name, value):
        # (a Tensor method defined in a mixin is shadowed on Tensor itself, and the shadow deleted afterwards)
        self.saved.append((owner, name, owner.__dict__.get(name, _INHERITED) if isinstance(owner, type)
                           else getattr(owner, name)))
        setattr(owner, name, value)

    def __enter__(self):
        import ember
        from .._tensor import Tensor
        from ..nn import functional as F
        from ..nn.modules.module import Module
        methods = {}
        for cls in reversed(Tensor.__mro__[:-1]):  # the core and the op-family mixins (ember/_tensor_methods)
            methods.update(vars(cls))
        for name, value in list(methods.items()):
            if name in _SKIP_METHODS or (name.startswith('_') and name not in _SKIP_DUNDER_OK):
                continue
            if isinstance(value, property):
                if name in ('T', 'mT', 'H', 'mH'):
                    self._set(Tensor, name, _wrap_property(name, value))
            elif callable(value):
                self._set(Tensor, name, _wrap_callable('method', name, value))
        for name, value in list(vars(ember).items()):
            if name.startswith('_') or isinstance(value, type) or not callable(value):
                continue
            module = getattr(value, '__module__', None) or ''
            if module.startswith('ember.ops') or name in _EMBER_LEVEL_OPS:
                self._set(ember, name, _wrap_callable('fn', name, value))
        for name, value in list(vars(F).items()):
            if callable(value) and not isinstance(value, type) and not name.startswith('_'):
                self._set(F, name, _wrap_callable('F', name, value))
        self._set(Module, '__call__', _module_call(Module.__call__))  # (inherited from a mixin: deleted after)
        return self

    def __exit__(self, *exc):
        for owner, name, value in reversed(self.saved):
            if value is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        return False


# ---- export ---------------------------------------------------------------------------------------------------------
def _flatten_args(args, kwargs):
    from .._tensor import Tensor
    if isinstance(args, Tensor):
        args = (args,)
    elif not isinstance(args, tuple):
        args = tuple(args) if isinstance(args, list) else (args,)
    if args and isinstance(args[-1], dict) and kwargs is None:
        args, kwargs = args[:-1], args[-1]
    return args, dict(kwargs or {})


def _ir_version(opset):
    return 8 if opset <= 17 else (9 if opset <= 20 else 10)


def _value_info(helper, name, t, dyn):
    shape = [dyn.get(i, d) for i, d in enumerate(t.shape)]
    return helper.make_tensor_value_info(name, onnx_type(t._data.dtype), shape)


def _dyn_spec(dynamic_axes, name):
    spec = (dynamic_axes or {}).get(name)
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return {builtins.int(k): str(v) for k, v in spec.items()}
    return {builtins.int(a): f'{name}_dynamic_axes_{i + 1}' for i, a in enumerate(spec)}


def export(model, args=(), f=None, kwargs=None, export_params=True, verbose=False, training=None,
           input_names=None, output_names=None, operator_export_type=None, opset_version=None,
           do_constant_folding=True, dynamic_axes=None, keep_initializers_as_inputs=None, custom_opsets=None,
           export_modules_as_functions=False, autograd_inlining=True, dynamo=False, **unused):
    """Export ``model`` (run once on ``args``) to the ONNX file ``f`` (a path or a binary file object).

    The forward is traced: library modules with export rules (Linear, Conv, pooling, BatchNorm, LayerNorm,
    activations, Dropout, Flatten, Embedding, LSTM/GRU/RNN, MultiheadAttention, TransformerEncoderLayer) become ONNX
    subgraphs; tensor operations between them (through Tensor methods and operators, ember.* and
    ember.nn.functional.*) become ONNX ops; anything computed only from parameters and constants is folded into
    initializers. Python control flow is fixed at the traced values, as in PyTorch's tracing exporter. An op with no
    export rule raises OnnxExportError naming it. Exports opset 13-21 (default 17), in eval mode unless ``training``
    says otherwise. ``dynamic_axes`` marks input/output dims as symbolic (reshapes keep leading dims symbolic when
    they equal the input's)."""
    global _tracer
    try:
        import onnx
        from onnx import helper
    except ImportError:
        raise ImportError("ember.onnx.export needs the onnx package: pip install 'ember[onnx]'") from None
    from .._tensor import Tensor
    from ..autograd import enable_grad
    if f is None:
        raise TypeError("export() missing the output file argument 'f'")
    opset = 17 if opset_version is None else builtins.int(opset_version)
    if opset < 13:
        warnings.warn(f'ember.onnx.export emits opset 13 or newer; opset_version={opset} was raised to 13')
        opset = 13
    if dynamo:
        warnings.warn('ember.onnx.export has one (tracing) exporter; dynamo=True is ignored')
    args, kwargs = _flatten_args(args, kwargs)
    n_in = len(_outputs(list(args) + list(kwargs.values())))
    input_names = list(input_names or [])
    if len(input_names) < n_in:
        default = ['input'] if n_in == 1 else [f'input_{i}' for i in range(n_in)]
        input_names += default[len(input_names):]
    from ..nn.modules.module import Module
    is_module = isinstance(model, Module)
    params = {}
    modes = []
    if is_module:
        for n, p in list(model.named_parameters()) + list(model.named_buffers()):
            params[id(p)] = n
        modes = [(m, m.training) for m in model.modules()]
        mode = str(getattr(training, 'name', training)).lower() if training is not None else 'eval'
        if 'preserve' not in mode:
            model.train('train' in mode)
    g = _Graph(opset, params, export_params)
    for n in input_names:
        g.used.add(n)
    it = iter(input_names)
    graph_inputs = []

    def trace_value(v):
        if isinstance(v, Tensor):
            x = v.detach().clone()
            if x.is_floating_point():
                x.requires_grad_()
            name = next(it)
            g.bind(x, name)
            graph_inputs.append((name, x))
            return x
        if isinstance(v, (tuple, list)):
            return type(v)(trace_value(e) for e in v)
        return v
    traced_args = [trace_value(a) for a in args]
    traced_kwargs = {k: trace_value(v) for k, v in kwargs.items()}
    grads = [(p, p.requires_grad) for p in (model.parameters() if is_module else [])]
    try:
        for p, _ in grads:
            p.requires_grad_(False)
        _tracer = g
        with _Patches(), enable_grad():
            out = model(*traced_args, **traced_kwargs)
    finally:
        _tracer = None
        for p, rg in grads:
            p.requires_grad_(rg)
        for m, t in modes:
            m.training = t
    outs = _outputs(out)
    if not outs:
        raise OnnxExportError('ember.onnx.export: the model returned no tensors')
    output_names = list(output_names or [])
    default = ['output'] if len(outs) == 1 else [f'output_{i}' for i in range(len(outs))]
    output_names += default[len(output_names):len(outs)]
    in_names = {n for n, _ in graph_inputs}
    init_names = {i.name for i in g.initializers}
    rename = {}
    for t, want in zip(outs, output_names):
        have = g.name(t)
        produced = any(have in n.output for n in g.nodes)
        if have in in_names or have in init_names or not produced or have in rename or want in g.used:
            g.nodes.append(helper.make_node('Identity', [have], [want], name=g.fresh('/Identity')))
        else:
            rename[have] = want
    for node in g.nodes:
        for seq in (node.input, node.output):
            for i, n in enumerate(seq):
                if n in rename:
                    seq[i] = rename[n]
    used_nodes = _prune(g.nodes, output_names)
    used_inputs = {n for node in used_nodes for n in node.input} | set(output_names)
    inits = [i for i in g.initializers if i.name in used_inputs]
    inputs = [_value_info(helper, n, x, _dyn_spec(dynamic_axes, n)) for n, x in graph_inputs]
    inputs += [v for v in g.extra_inputs if v.name in used_inputs]
    if keep_initializers_as_inputs:
        inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in inits]
    outputs = [_value_info(helper, n, t, _dyn_spec(dynamic_axes, n)) for n, t in zip(output_names, outs)]
    graph = helper.make_graph(used_nodes, getattr(model, '__class__', type(model)).__name__, inputs, outputs,
                              initializer=inits)
    from .. import __version__
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)], producer_name='ember',
                              producer_version=__version__)
    proto.ir_version = _ir_version(opset)
    onnx.checker.check_model(proto)
    if verbose:
        print(helper.printable_graph(proto.graph))
    onnx.save_model(proto, f)
    return None


def _prune(nodes, outputs):
    """Only the nodes the outputs depend on (traced ops whose results were discarded drop out)."""
    producer = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            producer[o] = i
    need, stack = set(), list(outputs)
    while stack:
        v = stack.pop()
        i = producer.get(v)
        if i is None or i in need:
            continue
        need.add(i)
        stack.extend(nodes[i].input)
    return [n for i, n in enumerate(nodes) if i in need]
