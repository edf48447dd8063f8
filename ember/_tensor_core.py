"""TensorCore: storage (an array of its device's array module), dtype, device, version counter and autograd state."""
import builtins

from ._dtype import _FROM_NP, to_dtype, get_default_dtype
from .backends import cpu


class Size(tuple):
    """A tensor's shape: a tuple, as ``x.shape`` and ``x.size()`` return."""
    __slots__ = ()
    __module__ = 'ember._tensor'  # where pickles find it (ember/_tensor.py re-exports it), as before the core split

    def __repr__(self):
        return f'torch.Size([{", ".join(map(str, self))}])'

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        r = tuple.__getitem__(self, key)
        return Size(r) if isinstance(key, slice) else r

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))


def _wrap(data, device):
    """The constructor every op uses: no copies, and one check, for the invariant that a Tensor always holds an
    ndarray of its device (NumPy ufuncs on 0-d arrays return scalars, which in-place methods cannot write into)."""
    if type(data) is not _ndarray:
        data = _as_device_array(data, device)
    t = _new(Tensor)  # the full class (bound by ember/_tensor.py once its op methods are mixed in)
    t._data, t._device, t._rg, t.grad, t.grad_fn, t._out, t._vc, t._hooks = data, device, False, None, None, 0, None, None
    return t


_new = object.__new__
_ndarray = cpu.xp.ndarray


def _as_device_array(data, device):
    """``data`` as an ndarray of ``device``'s array module (a CuPy array stays as it is; scalars become 0-d)."""
    xp = device.xp
    return data if type(data) is xp.ndarray else xp.asarray(data)


class TensorCore:
    """What every tensor is, without its op methods: storage, type and place, the version counter, autograd state,
    conversions and the Python protocol. ``ember.Tensor`` (ember/_tensor.py) adds the op methods as mixins; ops
    import this module (not ember/_tensor.py, which imports them) and test ``isinstance(x, TensorCore)``."""
    __slots__ = ('_data', '_device', '_rg', 'grad', 'grad_fn', '_out', '_vc', '_hooks', '__weakref__', '__dict__')
    __array_priority__ = 1000  # make NumPy defer `ndarray * tensor` to Tensor.__rmul__

    def __init__(self, *args, device=None, dtype=None):
        # ember.Tensor(data) and ember.Tensor(*sizes), the legacy constructor: always the default float dtype
        from ._creation import tensor, zeros
        dt = to_dtype(dtype) or get_default_dtype()
        if len(args) == 1 and not isinstance(args[0], (builtins.int, Size)):
            src = tensor(args[0], dtype=dt, device=device)
        else:
            shape = args[0] if len(args) == 1 and isinstance(args[0], Size) else (args or (0,))
            src = zeros(*shape, dtype=dt, device=device)
        self._data, self._device = src._data, src._device
        self._rg, self.grad, self.grad_fn, self._out, self._vc, self._hooks = False, None, None, 0, None, None

    # ---- storage, type and place ------------------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        from .ops._util import norm_dim
        return self._data.shape[norm_dim(dim, self._data.ndim)]

    @property
    def dtype(self):
        return _FROM_NP[self._data.dtype]

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self):
        return self._device.type == 'cuda'

    @property
    def is_cpu(self):
        return self._device.type == 'cpu'

    # devices and kinds ember has no tensors of (Intel GPU, Apple GPU, meta, quantized, nested, ...)
    is_xpu = is_mps = is_meta = is_quantized = is_nested = is_mkldnn = is_ipu = is_vulkan = is_mtia = is_maia = \
        is_sparse_csr = False

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return self._data.size

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    def is_floating_point(self):
        return self._data.dtype.kind in 'fV'  # 'V': ml_dtypes' bfloat16, the only void-kind dtype ember stores

    def is_complex(self):
        return self._data.dtype.kind == 'c'

    def is_signed(self):
        return self._data.dtype.kind not in 'ub'

    def is_same_size(self, other):
        return self._data.shape == other._data.shape

    def is_neg(self):
        return False  # (ember keeps no lazy negation bit)

    def is_inference(self):
        return False  # (ember has no inference tensors)

    def get_device(self):
        return -1 if self._device.type == 'cpu' else (self._device.index or 0)

    def is_contiguous(self, memory_format=None):
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[dim]

    def data_ptr(self):
        return self._data.__array_interface__['data'][0] if self._device is cpu else self._data.data.ptr

    @property
    def is_sparse(self):
        return False  # (ember.sparse's tensors say True)

    def to_dense(self, dtype=None, *, masked_grad=None):
        return self if dtype is None else self.to(dtype)

    def __dlpack__(self, stream=None, *, max_version=None, dl_device=None, copy=None):
        """The array's own DLPack capsule (NumPy's on cpu, CuPy's on cuda), so memory is shared."""
        if self._rg:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        if self.is_sparse:
            raise RuntimeError('Cannot export sparse tensors through DLPack: call .to_dense() first')
        kwargs = {k: v for k, v in (('max_version', max_version), ('dl_device', dl_device), ('copy', copy))
                  if v is not None}
        if stream is not None:
            kwargs['stream'] = stream
        try:
            return self._data.__dlpack__(**kwargs)
        except TypeError:
            if 'max_version' not in kwargs and 'dl_device' not in kwargs and 'copy' not in kwargs:
                raise
            # an older producer without the DLPack 1.0 keywords: the unversioned capsule is what consumers fall back to
            return self._data.__dlpack__(**({'stream': stream} if stream is not None else {}))

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    @property
    def layout(self):
        from ._dtype import strided
        return strided

    @property
    def data(self):
        """A tensor sharing this one's storage, outside the graph and (unlike detach()) outside its version
        counter, as PyTorch's ``.data``: in-place edits through it are not seen by autograd's checks."""
        return _wrap(self._data, self._device)

    @data.setter
    def data(self, value):
        if not isinstance(value, TensorCore):
            raise TypeError(f'data must be a Tensor, not {type(value).__name__}')
        self._data, self._device = value._data, value._device
        self.__dict__.pop('_view', None)  # new storage: no longer a view of anything

    # ---- autograd state ---------------------------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = builtins.bool(flag)
        if self.grad_fn is not None:
            if not flag:
                raise RuntimeError('you can only change requires_grad flags of leaf variables. If you want to use a '
                                   'computed variable in a subgraph that doesn\'t require differentiation use '
                                   'var_no_grad = var.detach().')
            return
        if flag and self._data.dtype.kind not in 'fVc':
            raise RuntimeError(f'only Tensors of floating point and complex dtype can require gradients (got '
                               f'{self.dtype.name})')
        self._rg = flag

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def output_nr(self):
        return self._out

    @property
    def _base(self):
        """The tensor this one is a view of (the root of a chain of views), or None."""
        info, t = self._view, None
        while info is not None:
            t = info[0]
            info = t._view
        return t

    def _is_view(self):
        return self._view is not None

    @property
    def _version(self):
        return self._vc[0] if self._vc is not None else 0

    def retain_grad(self):
        if self.grad_fn is None:
            if not self._rg:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        import weakref
        node = self.grad_fn
        if node.retained is None:
            node.retained = {}
        node.retained[self._out] = weakref.ref(self)

    @property
    def retains_grad(self):
        node = self.grad_fn
        return builtins.bool(node is not None and node.retained and self._out in node.retained)

    def register_hook(self, hook):
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from .autograd.graph import add_tensor_hook
        return add_tensor_hook(self, hook)

    _post_acc_hooks = None  # per-instance dict (in __dict__) once a post-accumulate hook is registered
    # (base, step, arg, made_with_grad) on a view, in __dict__ (see ops.shape._view): _wrap pays nothing for it
    _view = None

    def register_post_accumulate_grad_hook(self, hook):
        """Register ``hook(tensor)``, run after each gradient is accumulated into this leaf's ``.grad``."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError('post accumulate grad hooks cannot be registered on non-leaf tensors')
        from .autograd.graph import add_post_accumulate_hook
        return add_post_accumulate_hook(self, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self):
        t = _wrap(self._data, self._device)
        if self.__dict__ and '_conj' in self.__dict__:  # (the conj flag stays, as PyTorch's conj bit)
            t.__dict__['_conj'] = self.__dict__['_conj']
        if self._vc is None:
            self._vc = [0]
        t._vc = self._vc
        return t

    def detach_(self):
        self.grad_fn, self._rg, self._out = None, False, 0
        return self

    def _snapshot(self):
        """A second handle on this tensor's current value and graph position (for in-place ops' backward)."""
        t = _wrap(self._data, self._device)
        if self._vc is None:
            self._vc = [0]
        t._vc, t._rg, t.grad_fn, t._out = self._vc, self._rg, self.grad_fn, self._out
        return t

    def _rebind(self, result):
        """After an in-place op: this tensor now stands for ``result``'s graph position."""
        self.grad_fn, self._out, self._rg = result.grad_fn, result._out, result._rg or self._rg

    def _bump(self):
        if self._vc is None:
            self._vc = [1]
        else:
            self._vc[0] += 1

    def _detached_copy(self, copy=True):
        return _wrap(self._data.copy() if copy else self._data, self._device)

    def _accumulate_(self, g):
        """In-place gradient accumulation (engine only)."""
        self._data += g._data

    # ---- conversion -------------------------------------------------------------------------------------------
    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f'a Tensor with {self._data.size} elements cannot be converted to Scalar')
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, *, force=False):
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        if self.__dict__.get('_conj') and not force:  # (ember's conj() is a copy, flagged as PyTorch's lazy one)
            raise RuntimeError("Can't call numpy() on Tensor that has conjugate bit set. Use "
                               "tensor.resolve_conj().numpy() instead.")
        if self._device is not cpu:
            if force:
                return self._data.get()
            raise TypeError(f"can't convert {self._device} device type tensor to numpy. Use Tensor.cpu() to copy "
                            f"the tensor to host memory first.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def to(self, *args, **kwargs):
        from .ops.convert import tensor_to
        return tensor_to(self, args, kwargs)

    def type(self, dtype=None, non_blocking=False):
        from ._dtype import _LEGACY_NAMES
        if dtype is None:
            return f'torch.{_LEGACY_NAMES[self.dtype.name]}'
        return self.to(to_dtype(dtype))

    def cpu(self, memory_format=None):
        return self.to('cpu')

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        return self.to(f'cuda:{device}' if isinstance(device, builtins.int) else (device or 'cuda'))

    def float(self, memory_format=None):
        return self.to(to_dtype('float32'))

    def double(self, memory_format=None):
        return self.to(to_dtype('float64'))

    def half(self, memory_format=None):
        return self.to(to_dtype('float16'))

    def bfloat16(self, memory_format=None):
        return self.to(to_dtype('bfloat16'))

    def long(self, memory_format=None):
        return self.to(to_dtype('int64'))

    def int(self, memory_format=None):
        return self.to(to_dtype('int32'))

    def short(self, memory_format=None):
        return self.to(to_dtype('int16'))

    def char(self, memory_format=None):
        return self.to(to_dtype('int8'))

    def byte(self, memory_format=None):
        return self.to(to_dtype('uint8'))

    def bool(self, memory_format=None):
        return self.to(to_dtype('bool'))

    def type_as(self, other):
        return self.to(other.dtype)

    def clone(self, memory_format=None):
        from .ops.convert import clone
        return clone(self)

    # ---- Python protocol --------------------------------------------------------------------------------------
    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError('len() of a 0-d tensor')
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError('iteration over a 0-d tensor')
        return iter(self.unbind(0))

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f'Boolean value of Tensor with more than one value is ambiguous (shape '
                               f'{tuple(self.shape)})')
        return builtins.bool(self._data.item())

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in 'iub' or self._data.size != 1:
            raise TypeError('only integer tensors of a single element can be converted to an index')
        return builtins.int(self.item())

    def __complex__(self):
        return complex(self.item())

    __hash__ = object.__hash__

    def __repr__(self):
        from ._printing import format_tensor
        return format_tensor(self)

    def __format__(self, spec):
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild_tensor, (self.numpy(force=True), str(self._device), self._rg))

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError('Only Tensors created explicitly by the user (graph leaves) support the deepcopy '
                               'protocol at the moment.')
        t = type(self).__new__(type(self))
        TensorCore.__init_copy__(t, self)
        memo[id(self)] = t
        return t

    def __init_copy__(self, src):
        self._data, self._device = src._data.copy(), src._device
        self._rg, self.grad, self.grad_fn, self._out, self._vc, self._hooks = src._rg, None, None, 0, None, None
        if src.grad is not None:
            self.grad = src.grad.clone()
        for k, v in getattr(src, '__dict__', {}).items():
            if k != '_view':  # a copy has storage of its own
                self.__dict__[k] = v



def _rebuild_tensor(array, device, requires_grad):
    """Unpickling target for tensors (sent between processes, DataLoader workers): see __reduce_ex__."""
    t = _wrap(array, cpu)
    if device != 'cpu':
        t = t.to(device)
    t.requires_grad = requires_grad
    return t

Tensor = TensorCore  # rebound to ember.Tensor by ember/_tensor.py once its methods are mixed in (for _wrap)
