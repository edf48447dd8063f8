"""Every public Tensor method takes PyTorch's keyword names: checked against the signatures in torch.Tensor's
docstrings (``add(other, *, alpha=1) -> Tensor``) and, where a docstring is silent or wrong, against PyTorch's
argument parser itself (a call with the keyword tells whether torch knows it)."""
import inspect
import re

import pytest

import ember

torch = pytest.importorskip('torch')

# NumPy-style aliases PyTorch's reductions accept too (x.sum(axis=0, keepdims=True)), and out= where ember takes it
ALIASES = {'axis', 'keepdims', 'out'}

# Keywords PyTorch's parser accepts although the method's docstring omits them (checked by hand: a probe with a
# placeholder value cannot tell, as the parser first reports the missing positional arguments).
UNDOCUMENTED = {
    'gather': {'sparse_grad'}, 'softmax': {'dtype'}, 'log_softmax': {'dim', 'dtype'},
    'split_with_sizes': {'split_sizes', 'dim'},
    'index_reduce': {'dim', 'index', 'source', 'reduce', 'include_self'},
}

# Deliberate differences, with the reason. A method that comes to match must leave this list (the test says so).
EXCEPTIONS = {
    'dsplit': "PyTorch's parser has two overloads, sections= and indices=; ember's one parameter takes either, "
              "named indices_or_sections as torch.dsplit's documentation names it",
    'hsplit': 'as dsplit', 'vsplit': 'as dsplit',
    'unsafe_split_with_sizes': "PyTorch has no docstring to read, though its parser takes dim= (checked by hand)",
    'uniform_': "'from' is a Python keyword: ember spells it from_",
    'random_': "'from' is a Python keyword; the arguments stay as given, since PyTorch tells random_(to) from "
               "random_(from, None) by their number",
}


def _doc_overloads(name):
    """The parameter names of each ``name(...)`` signature line at the top of torch.Tensor.<name>.__doc__."""
    doc = getattr(getattr(torch.Tensor, name), '__doc__', None) or ''
    out = []
    for line in doc.splitlines()[:15]:
        s = line.strip()
        if not s.startswith(name + '('):
            continue
        depth, start = 0, len(name)
        for end in range(start, len(s)):
            depth += {'(': 1, ')': -1}.get(s[end], 0)
            if depth == 0:
                break
        names = []
        for p in re.split(r',(?![^(\[]*[)\]])', s[start + 1:end]):
            p = p.split('=')[0].strip().lstrip('*').split(':')[0].strip()
            if p and p != '/':
                names.append(p)
        out.append(names)
    return out


def _parser_names(message):
    """The keyword names in the overloads a PyTorch 'expected one of:' message lists."""
    names = set()
    for line in message.splitlines():
        m = re.match(r'\s*\* \((.*)\)\s*$', line)
        if m:
            names.update(p.split('=')[0].split()[-1] for p in m.group(1).split(',') if p.split('=')[0].strip()
                         not in ('', '*'))
    return names


def _torch_accepts(name, kw):
    """Whether torch.Tensor.<name> takes the keyword ``kw`` (a call with a placeholder value that must fail)."""
    try:
        getattr(torch.ones(2, 2), name)(**{kw: object()})
    except Exception as e:  # noqa: BLE001 (any refusal: the message tells which)
        msg = str(e)
        if 'expected one of' in msg:
            return kw in _parser_names(msg)
        return f"'{kw}'" in msg and not any(w in msg for w in ('unexpected', 'unrecognized', 'incorrect'))
    return True


def _public_methods():
    names = []
    for name in sorted(dir(ember.Tensor)):
        if name.startswith('_') or not hasattr(torch.Tensor, name):
            continue
        if isinstance(inspect.getattr_static(ember.Tensor, name), property):
            continue
        if callable(getattr(ember.Tensor, name)):
            names.append(name)
    return names


def _differences(name):
    """(torch keywords ember lacks, ember keywords torch lacks) for the method ``name``."""
    params = list(inspect.signature(getattr(ember.Tensor, name)).parameters.values())[1:]
    ember_kw = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_pos = {p.name for p in params if p.kind is p.VAR_POSITIONAL}
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    tfn = getattr(torch.Tensor, name)
    if inspect.isfunction(tfn):  # written in Python in torch/_tensor.py: its signature is the truth
        tparams = list(inspect.signature(tfn).parameters.values())[1:]
        torch_kw = {p.name for p in tparams if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        documented = torch_kw
    else:
        documented = {n for sig in _doc_overloads(name) for n in sig} | UNDOCUMENTED.get(name, set())
        torch_kw = {n for n in documented | ember_kw if n in UNDOCUMENTED.get(name, ()) or _torch_accepts(name, n)}
    # x.view(*shape): a Python parameter cannot be both *shape and shape=; ember takes the sizes positionally
    missing = torch_kw - ember_kw - var_pos - ({'size', 'fill_value'} if has_var_kw else set())
    extra = ember_kw - torch_kw - documented - ALIASES
    return sorted(missing), sorted(extra)


@pytest.mark.parametrize('name', _public_methods())
def test_method_keywords_match_torch(name):
    missing, extra = _differences(name)
    if name in EXCEPTIONS:
        assert missing or extra, f'Tensor.{name} now matches PyTorch: delete it from EXCEPTIONS'
        return
    assert not missing and not extra, (f'Tensor.{name}: PyTorch also takes {missing}, ember also takes {extra} '
                                       f'(write the method with PyTorch\'s names in ember/_tensor_methods/, or '
                                       f'list a deliberate difference in EXCEPTIONS with its reason)')


def test_exceptions_are_tensor_methods():
    assert set(EXCEPTIONS) <= set(_public_methods())


def test_keywords_reach_the_op():
    """The renamed parameters work as keywords, as in PyTorch."""
    x, y = ember.tensor([[1., 2.], [3., 4.]]), ember.tensor([[2., 1.], [1., 2.]])
    assert x.add(other=y, alpha=2).tolist() == [[5., 4.], [5., 8.]]
    assert x.sub(other=y).tolist() == [[-1., 1.], [2., 2.]]
    assert x.mul(other=y).tolist() == x.multiply(y).tolist() == (x * y).tolist()
    assert x.div(other=y, rounding_mode='floor').tolist() == [[0., 2.], [3., 2.]]
    assert x.pow(exponent=2).tolist() == [[1., 4.], [9., 16.]]
    assert x.matmul(other=y).tolist() == x.mm(mat2=y).tolist() == (x @ y).tolist()
    assert x.mv(vec=y[0]).tolist() == [4., 10.]
    assert x.sum(dim=0, keepdim=True).tolist() == [[4., 6.]]
    assert x.clamp(min=1.5, max=3.5).tolist() == [[1.5, 2.], [3., 3.5]]
    assert x.transpose(dim0=0, dim1=1).tolist() == [[1., 3.], [2., 4.]]
    assert x.swapaxes(axis0=0, axis1=1).tolist() == [[1., 3.], [2., 4.]]
    assert x.eq(other=y).tolist() == [[False, False], [False, False]]
    assert x.maximum(other=y).tolist() == [[2., 2.], [3., 4.]]
    assert x.where(x > 2, other=y).tolist() == [[2., 1.], [3., 4.]]
    z = x.clone()
    assert z.add_(other=y, alpha=2) is z and z.tolist() == [[5., 4.], [5., 8.]]
    assert z.clamp_(min=5.5).tolist() == [[5.5, 5.5], [5.5, 8.]]
    assert x.clone().div_(y, rounding_mode='trunc').tolist() == [[0., 2.], [3., 2.]]
    assert x.view(4).shape == (4,) and x.view(ember.int32).dtype is ember.int32
    g = ember.Generator().manual_seed(0)
    a = ember.empty(3).uniform_(from_=2., to=3., generator=g)
    assert ((a >= 2) & (a < 3)).all()
    assert ember.empty(3).normal_(mean=1., std=0.).tolist() == [1., 1., 1.]


def test_ops_method_tables_are_tensor_methods():
    """The ops modules' METHODS tuples (functions PyTorch also has as Tensor methods) are all bound in
    ember/_tensor_methods/: a function added to a tuple must be written there too (``name = RX.name``)."""
    from ember.ops import reduce_extra, shape_extra, misc_extra
    for mod in (reduce_extra, shape_extra, misc_extra):
        for fn in mod.METHODS:
            method = getattr(ember.Tensor, fn.__name__, None)  # the op itself, or a def renaming its parameters
            assert method is fn or getattr(method, '__module__', '').startswith('ember._tensor_methods'), (
                f'{mod.__name__}.{fn.__name__} is in METHODS but not the Tensor method {fn.__name__}: add '
                f'`{fn.__name__} = ...{fn.__name__}` to its family mixin in ember/_tensor_methods/')
