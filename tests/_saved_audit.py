"""Three memory audits of every OpInfo entry (used by test_op_memory.py): an op's result never shares memory with
an input unless it is a view (sharing the input's version counter); neither its forward nor its backward writes into
an input or the gradient it is given; and its backward declares the tensors it reads.

A result that aliases an input without being a view (NumPy's ``flip`` is a view; PyTorch's ``flip`` a copy) silently
changes when the input is later written in place.

An op's ``saved`` declaration (ops/_util.record) is what the engine checks against in-place edits, and what an
in-place op consults to decide whether to compute from a copy of its input (ops/inplace.py). A backward that reads
an input it does not declare gives a silently wrong gradient once that input is edited in place. The audit runs each
OpInfo entry's float64 gradient samples on non-leaf copies of the inputs, edits every copy in place after the
forward (under no_grad, which bumps its version), reverses every other tensor argument in place (index and mask
tensors, which PyTorch saves too) and requires the backward either to refuse (the tensor was declared) or to give
the gradients of the unedited run (it was not read).

Run ``python tests/_saved_audit.py [names...]`` to print every entry that fails an audit.
"""
import itertools
import sys

import numpy as np

import ember
from _opinfo import (MAX_SAMPLES, Unsupported, to_ember, resolve, public_entries, entry_name, _grad_dtype, _call,
                     _seed_of, _on_ember, _flat, _projection, _dtypes)

_EDITED = 'modified by an inplace operation'
EDIT = 'all'


def _substitute(x, subs):
    if isinstance(x, ember.Tensor):
        return subs.get(id(x), x)
    if isinstance(x, (list, tuple)):
        return type(x)(_substitute(v, subs) for v in x) if type(x) in (list, tuple) else x
    if isinstance(x, dict):
        return {k: _substitute(v, subs) for k, v in x.items()}
    return x


def _run(op, fn, s, edit):
    """The sample's gradients w.r.t. its leaves, computed through non-leaf copies (edited after the forward when
    ``edit``); 'refused' when the backward refuses an edited saved input; None when the sample does not apply."""
    memo = {}
    try:
        args = to_ember([s.input, *s.args], memo)
        kwargs = to_ember(s.kwargs, memo)
    except Unsupported:
        return None
    leaves = [v for v in memo.values() if isinstance(v, ember.Tensor) and v.requires_grad]
    if not leaves:
        return None
    copies = {id(x): x * 1 for x in leaves}
    args, kwargs = _substitute(args, copies), _substitute(kwargs, copies)
    try:
        out = _on_ember(s.output_process_fn_grad)(_call(fn, ember, args, kwargs, _on_ember(op.gradcheck_wrapper),
                                                        seed=_seed_of(op)))
    except Exception:
        return None  # the forward itself is test_opinfo.py's business
    outs = [o for o in _flat(out) if isinstance(o, ember.Tensor) and o.requires_grad]
    if not outs:
        return None
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal(tuple(o.shape)), rng.standard_normal(tuple(o.shape))) for o in outs]
    loss = _projection(ember, outs, ws)
    if edit:
        with ember.no_grad():
            for c in copies.values():
                c.mul_(1.5).add_(0.25)
            if edit == 'all':  # the other tensor arguments (indices, masks, weights): reversed, so still valid
                for v in memo.values():
                    if isinstance(v, ember.Tensor) and not v.requires_grad and v.numel() > 1 and \
                            v.layout == ember.strided:
                        v.copy_(v.reshape(-1).flip(0).reshape(v.shape))
    try:
        grads = ember.autograd.grad(loss, leaves, allow_unused=True)
    except RuntimeError as e:
        if edit and _EDITED in str(e):
            return 'refused'
        raise
    return [None if g is None else g.detach().numpy().copy() for g in grads]


def audit_alias(op):
    """None when no result of the entry's forward samples shares memory with an input it is not a view of."""
    fn = resolve(op)
    if fn is None:
        return None
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for dt in _dtypes(op)[:1]:
            for n, s in enumerate(itertools.islice(op.sample_inputs('cpu', dt, requires_grad=False), MAX_SAMPLES)):
                memo = {}
                try:
                    args, kwargs = to_ember([s.input, *s.args], memo), to_ember(s.kwargs, memo)
                    out = _call(fn, ember, args, kwargs, seed=_seed_of(op))
                except Exception:
                    continue  # the forward itself is test_opinfo.py's business
                ins = [v for v in memo.values() if isinstance(v, ember.Tensor) and v.numel()]
                for o in _flat(out):
                    if not isinstance(o, ember.Tensor) or o.layout != ember.strided or not o.numel():
                        continue
                    for i in ins:  # (an op may return its input itself: contiguous(), float() on float32)
                        if o is not i and np.shares_memory(o._data, i._data) and (o._vc is None or
                                                                                  o._vc is not i._vc):
                            return f'sample {n}: a result shares memory with an input but is not a view of it'
    return None


# entries whose forward writes an input in PyTorch too: the in-place random fills, batch norm's running statistics
WRITES_INPUTS = {'cauchy', 'exponential', 'geometric', 'log_normal', 'normal/in_place', 'uniform',
                 'native_batch_norm', 'nn.functional.instance_norm', 'nn.functional.batch_norm'}


def audit_pure(op):
    """None when neither the forward nor the backward of the entry's samples writes into an input or into the
    output gradient it is given (a backward computing in place into ``g`` would corrupt a gradient another branch
    of the graph still reads)."""
    fn, dtype = resolve(op), _grad_dtype(op)
    if fn is None or entry_name(op) in WRITES_INPUTS or (dtype is None and not _dtypes(op)):
        return None
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        samples = op.sample_inputs('cpu', dtype or _dtypes(op)[0], requires_grad=dtype is not None)
        for n, s in enumerate(itertools.islice(samples, MAX_SAMPLES)):
            memo = {}
            try:
                args, kwargs = to_ember([s.input, *s.args], memo), to_ember(s.kwargs, memo)
            except Unsupported:
                continue
            ins = [v for v in memo.values() if isinstance(v, ember.Tensor) and v.layout == ember.strided]
            before = [v._data.copy() for v in ins]
            try:
                out = _call(fn, ember, args, kwargs, seed=_seed_of(op))
            except Exception:
                continue
            if any(not np.array_equal(v._data, b, equal_nan=True) for v, b in zip(ins, before)):
                return f'sample {n}: the forward wrote into an input'
            outs = [o for o in _flat(out) if isinstance(o, ember.Tensor) and o.requires_grad and
                    o.layout == ember.strided]
            leaves = [v for v in ins if v.requires_grad]
            if not outs or not leaves:
                continue
            rng = np.random.default_rng(0)
            gs = [ember.tensor(rng.standard_normal(tuple(o.shape))).to(o.dtype) for o in outs]
            g_before = [g._data.copy() for g in gs]
            try:
                ember.autograd.grad(outs, leaves, grad_outputs=gs, allow_unused=True)
            except Exception:
                continue
            if any(not np.array_equal(g._data, b, equal_nan=True) for g, b in zip(gs, g_before)):
                return f'sample {n}: the backward wrote into the output gradient it was given'
            if any(not np.array_equal(v._data, b, equal_nan=True) for v, b in zip(ins, before)):
                return f'sample {n}: the backward wrote into an input'
    return None


def audit_saved(op):
    """None when every sample's backward either refuses edited inputs or does not read them, else a description."""
    fn, dtype = resolve(op), _grad_dtype(op)
    if fn is None or dtype is None:
        return None
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for n, s in enumerate(itertools.islice(op.sample_inputs('cpu', dtype, requires_grad=True), MAX_SAMPLES)):
            try:
                clean = _run(op, fn, s, edit=False)
            except Exception:
                continue  # a backward that fails unedited is test_opinfo.py's business
            if clean is None:
                continue
            try:
                edited = _run(op, fn, s, edit=EDIT)
            except Exception as e:
                return f'sample {n}: the edited run raises {type(e).__name__}: {str(e).splitlines()[0][:100]}'
            if edited == 'refused':
                continue
            for i, (a, b) in enumerate(zip(clean, edited)):
                if (a is None) != (b is None) or a is not None and not np.allclose(a, b, rtol=1e-9, atol=1e-12,
                                                                                  equal_nan=True):
                    return (f'sample {n}: the gradient of input {i} changes when the inputs are edited in place '
                            f'after the forward: its backward reads an input it does not declare saved')
    return None


if __name__ == '__main__':
    names = sys.argv[1:]
    bad = 0
    for op in public_entries():
        name = entry_name(op)
        if names and name not in names and op.name not in names:
            continue
        r = audit_alias(op) or audit_pure(op) or audit_saved(op)
        if r:
            bad += 1
            print(f'{name}: {r}')
    print(f'{bad} entries fail an audit')
