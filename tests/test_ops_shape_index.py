"""Shape and indexing ops: values against NumPy, float64 gradchecks, PyTorch parity, views and errors."""
import numpy as np
import pytest

import ember
from _parity import Rnd, assert_parity, assert_same_outcome, assert_raises_like_torch, gradcheck_op

rnd = Rnd(7)


def I(L, data):  # an int64 index tensor of either library
    return L.tensor(np.asarray(data, dtype=np.int64))


# (name, fn(L, x), NumPy reference(x) or None, input shape)
SHAPE_OPS = [
    ('view', lambda L, x: x.view(6, 4), lambda a: a.reshape(6, 4), (2, 3, 4)),
    ('view_infer', lambda L, x: x.view(-1, 3, 2), lambda a: a.reshape(-1, 3, 2), (2, 3, 4)),
    ('view_tuple', lambda L, x: x.view((4, 6)), lambda a: a.reshape(4, 6), (2, 3, 4)),
    ('view_as', lambda L, x: x.view_as(L.ones(4, 6)), lambda a: a.reshape(4, 6), (2, 3, 4)),
    ('reshape', lambda L, x: x.reshape(3, -1), lambda a: a.reshape(3, -1), (2, 3, 4)),
    ('reshape_fn', lambda L, x: L.reshape(x.transpose(0, 2), (-1,)), lambda a: a.transpose(2, 1, 0).reshape(-1),
     (2, 3, 4)),
    ('flatten', lambda L, x: x.flatten(), lambda a: a.reshape(-1), (2, 3, 4)),
    ('flatten_range', lambda L, x: L.flatten(x, 1), lambda a: a.reshape(2, -1), (2, 3, 4)),
    ('flatten_mid', lambda L, x: x.flatten(0, -2), lambda a: a.reshape(6, 4), (2, 3, 4)),
    ('unflatten', lambda L, x: x.unflatten(2, (2, 2)), lambda a: a.reshape(2, 3, 2, 2), (2, 3, 4)),
    ('unflatten_infer', lambda L, x: L.unflatten(x, -1, (-1, 2)), lambda a: a.reshape(2, 3, 2, 2), (2, 3, 4)),
    ('squeeze', lambda L, x: x.squeeze(), lambda a: a.squeeze(), (2, 1, 3, 1)),
    ('squeeze_dim', lambda L, x: x.squeeze(1), lambda a: a.squeeze(1), (2, 1, 3, 1)),
    ('squeeze_noop', lambda L, x: L.squeeze(x, 0), lambda a: a, (2, 1, 3, 1)),
    ('squeeze_tuple', lambda L, x: x.squeeze((1, 3)), lambda a: a.squeeze((1, 3)), (2, 1, 3, 1)),
    ('unsqueeze', lambda L, x: x.unsqueeze(0), lambda a: a[None], (2, 3)),
    ('unsqueeze_neg', lambda L, x: L.unsqueeze(x, -1), lambda a: a[..., None], (2, 3)),
    ('unsqueeze_mid', lambda L, x: x.unsqueeze(1), lambda a: a[:, None], (2, 3)),
    ('permute', lambda L, x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    ('permute_fn', lambda L, x: L.permute(x, (1, -1, 0)), lambda a: a.transpose(1, 2, 0), (2, 3, 4)),
    ('transpose', lambda L, x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2), (2, 3, 4)),
    ('transpose_fn', lambda L, x: L.transpose(x, -1, 1), lambda a: a.swapaxes(2, 1), (2, 3, 4)),
    ('swapaxes', lambda L, x: x.swapaxes(0, 1), lambda a: a.swapaxes(0, 1), (2, 3, 4)),
    ('movedim', lambda L, x: x.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1), (2, 3, 4)),
    ('t', lambda L, x: x.t(), lambda a: a.T, (2, 3)),
    ('t_fn_1d', lambda L, x: L.t(x), lambda a: a, (3,)),
    ('T', lambda L, x: x.T, lambda a: a.T, (2, 3)),
    ('mT', lambda L, x: x.mT, lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    ('expand', lambda L, x: x.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (3, 1)),
    ('expand_keep', lambda L, x: x.expand(-1, 5), lambda a: np.broadcast_to(a, (3, 5)), (3, 1)),
    ('expand_as', lambda L, x: x.expand_as(L.ones(4, 3, 2)), lambda a: np.broadcast_to(a, (4, 3, 2)), (3, 1)),
    ('broadcast_to', lambda L, x: L.broadcast_to(x, (2, 3, 3)), lambda a: np.broadcast_to(a, (2, 3, 3)), (3, 1)),
    ('repeat', lambda L, x: x.repeat(2, 3), lambda a: np.tile(a, (2, 3)), (2, 3)),
    ('repeat_more', lambda L, x: x.repeat(2, 1, 2), lambda a: np.tile(a, (2, 1, 2)), (2, 3)),
    ('flip', lambda L, x: x.flip(0), lambda a: a[::-1], (2, 3, 4)),
    ('flip_dims', lambda L, x: L.flip(x, (0, 2)), lambda a: a[::-1, :, ::-1], (2, 3, 4)),
    ('fliplr', lambda L, x: L.fliplr(x), lambda a: a[:, ::-1], (2, 3)),
    ('roll', lambda L, x: x.roll(1, 0), lambda a: np.roll(a, 1, 0), (2, 3, 4)),
    ('roll_multi', lambda L, x: L.roll(x, (2, -1), (2, 1)), lambda a: np.roll(a, (2, -1), (2, 1)), (2, 3, 4)),
    ('roll_flat', lambda L, x: x.roll(5), lambda a: np.roll(a, 5), (2, 3, 4)),
    ('contiguous', lambda L, x: x.t().contiguous(), lambda a: a.T, (2, 3)),
    ('tril', lambda L, x: x.tril(), np.tril, (3, 4)),
    ('tril_k', lambda L, x: L.tril(x, -1), lambda a: np.tril(a, -1), (2, 3, 4)),
    ('triu', lambda L, x: x.triu(1), lambda a: np.triu(a, 1), (3, 4)),
    ('triu_fn', lambda L, x: L.triu(x), np.triu, (2, 4, 3)),
    ('narrow', lambda L, x: x.narrow(1, 1, 2), lambda a: a[:, 1:3], (2, 3, 4)),
    ('narrow_neg', lambda L, x: L.narrow(x, -1, -3, 2), lambda a: a[..., 1:3], (2, 3, 4)),
    ('select', lambda L, x: x.select(1, -1), lambda a: a[:, -1], (2, 3, 4)),
    ('diagonal', lambda L, x: x.diagonal(), lambda a: np.diagonal(a).copy(), (3, 4)),
    ('diagonal_off', lambda L, x: L.diagonal(x, 1, 1, 2), lambda a: np.diagonal(a, 1, 1, 2).copy(), (2, 3, 4)),
    ('diag', lambda L, x: L.diag(x), np.diag, (3,)),
    ('cat0', lambda L, x: L.cat([x, x * 2], 0), lambda a: np.concatenate([a, a * 2], 0), (2, 3)),
    ('cat_neg', lambda L, x: L.cat((x[:, :1], x, x), dim=-1), lambda a: np.concatenate([a[:, :1], a, a], -1),
     (2, 3)),
    ('stack', lambda L, x: L.stack([x, -x]), lambda a: np.stack([a, -a]), (2, 3)),
    ('stack_last', lambda L, x: L.stack([x, x * 3, x], dim=-1), lambda a: np.stack([a, a * 3, a], -1), (2, 3)),
    ('hstack', lambda L, x: L.hstack([x, x]), lambda a: np.hstack([a, a]), (2, 3)),
    ('vstack', lambda L, x: L.vstack([x, x]), lambda a: np.vstack([a, a]), (2, 3)),
    ('split', lambda L, x: x.split(2, 1), lambda a: tuple(np.split(a, [2], 1)), (2, 3, 4)),
    ('split_sizes', lambda L, x: L.split(x, [1, 3], dim=-1), lambda a: tuple(np.split(a, [1], -1)), (2, 3, 4)),
    ('chunk', lambda L, x: x.chunk(2, 2), lambda a: tuple(np.split(a, 2, 2)), (2, 3, 4)),
    ('chunk_uneven', lambda L, x: L.chunk(x, 2, 1), lambda a: tuple(np.split(a, [2], 1)), (2, 3, 4)),
    ('tensor_split', lambda L, x: x.tensor_split(3, 2), lambda a: tuple(np.array_split(a, 3, 2)), (2, 3, 4)),
    ('unbind', lambda L, x: x.unbind(1), lambda a: tuple(a[:, i] for i in range(3)), (2, 3, 4)),
    ('unbind_fn', lambda L, x: L.unbind(x), lambda a: tuple(a), (2, 3, 4)),
    ('iter', lambda L, x: tuple(x), lambda a: tuple(a), (2, 3)),
]
SHAPE_IDS = [s[0] for s in SHAPE_OPS]


def _as_list(out):
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize('name,fn,ref,shape', SHAPE_OPS, ids=SHAPE_IDS)
def test_shape_ops_match_numpy(name, fn, ref, shape):
    x = rnd(*shape)
    outs, expects = _as_list(fn(ember, ember.tensor(x))), _as_list(ref(x))
    assert len(outs) == len(expects)
    for o, e in zip(outs, expects):
        assert tuple(o.shape) == e.shape
        np.testing.assert_array_equal(o.numpy(), e)


@pytest.mark.parametrize('name,fn,ref,shape', SHAPE_OPS, ids=SHAPE_IDS)
def test_shape_ops_gradcheck(name, fn, ref, shape):
    gradcheck_op(fn, rnd(*shape))


@pytest.mark.parametrize('name,fn,ref,shape', SHAPE_OPS, ids=SHAPE_IDS)
def test_shape_ops_parity(name, fn, ref, shape):
    assert_parity(fn, rnd(*shape))


@pytest.mark.parametrize('fn', [lambda x: x.view(6, 4), lambda x: x.reshape(24), lambda x: x.transpose(0, 1),
                                lambda x: x.permute(2, 1, 0), lambda x: x[1], lambda x: x[:, 1:], lambda x: x.squeeze(),
                                lambda x: x.unsqueeze(0), lambda x: x.narrow(2, 1, 2),
                                lambda x: x.select(0, 1), lambda x: x.unbind(0)[1], lambda x: x.split(2, 2)[1],
                                lambda x: x.t() if x.ndim == 2 else x.mT, lambda x: x.flatten()])
def test_views_share_memory(fn):
    x = ember.zeros(2, 3, 4)
    v = fn(x)
    v.fill_(7.0)
    assert (x == 7).any().item()  # the write went through to the base


def test_view_of_non_contiguous_fails_reshape_copies():
    x = ember.ones(2, 3).t()
    with pytest.raises(RuntimeError, match='view size is not compatible with input tensor'):
        x.view(6)
    assert x.reshape(6).shape == (6,) and not x.is_contiguous() and x.contiguous().is_contiguous()


# ---- gather / scatter / index_select / masked_fill ------------------------------------------------------------
GATHER_OPS = [
    ('gather0', lambda L, x: x.gather(0, I(L, [[1, 0, 1], [0, 0, 1]])), (2, 3)),
    ('gather1', lambda L, x: L.gather(x, 1, I(L, [[2, 2], [0, 1]])), (2, 3)),
    ('gather_neg', lambda L, x: x.gather(-1, I(L, [[[3, 0], [1, 1], [2, 2]], [[0, 0], [1, 3], [2, 1]]])), (2, 3, 4)),
    ('scatter_src', lambda L, x: x.scatter(1, I(L, [[2, 0], [1, 0]]), x[:, :2] * 3), (2, 3)),
    ('scatter_value', lambda L, x: L.scatter(x, 0, I(L, [[1, 0, 1]]), 5.0), (2, 3)),
    ('scatter_add', lambda L, x: x.scatter_add(1, I(L, [[2, 2, 0], [1, 1, 1]]), x * 2), (2, 3)),
    ('scatter_add_fn', lambda L, x: L.scatter_add(x, 0, I(L, [[1, 1, 0]]), x[:1] - 1), (2, 3)),
    ('scatter_reduce_sum', lambda L, x: x.scatter_reduce(1, I(L, [[0, 0, 2], [1, 1, 1]]), x * x, 'sum'), (2, 3)),
    ('index_select', lambda L, x: x.index_select(1, I(L, [2, 0, 2])), (2, 3)),
    ('index_select_fn', lambda L, x: L.index_select(x, 0, I(L, [1, 1])), (2, 3, 4)),
    ('index_add', lambda L, x: x.index_add(0, I(L, [1, 1]), x * 2), (2, 3)),
    ('masked_fill', lambda L, x: x.masked_fill(x > 0, 0.5), (2, 3)),
    ('masked_fill_bcast', lambda L, x: L.masked_fill(x, L.tensor([True, False, True]), -1.0), (2, 3)),
    ('masked_fill_tensor', lambda L, x: x.masked_fill(x < 0, L.tensor(2.0, dtype=L.float64)), (2, 3)),
    ('masked_fill_', lambda L, x: (x * 1).masked_fill_(x > 0, 0.0), (2, 3)),
    ('masked_select', lambda L, x: x.masked_select(x > 0), (2, 3)),
    ('take', lambda L, x: L.take(x, I(L, [[0, 5], [3, 3]])), (2, 3)),
    ('where_mask_mul', lambda L, x: x * (x > 0), (2, 3)),
]


@pytest.mark.parametrize('name,fn,shape', GATHER_OPS, ids=[g[0] for g in GATHER_OPS])
def test_gather_scatter_gradcheck(name, fn, shape):
    gradcheck_op(fn, rnd(*shape))


@pytest.mark.parametrize('name,fn,shape', GATHER_OPS, ids=[g[0] for g in GATHER_OPS])
def test_gather_scatter_parity(name, fn, shape):
    assert_parity(fn, rnd(*shape))


def test_gather_scatter_values_match_numpy():
    a = rnd(3, 4)
    idx = np.array([[0, 3], [2, 2], [1, 0]])
    np.testing.assert_array_equal(ember.tensor(a).gather(1, ember.tensor(idx)).numpy(),
                                  np.take_along_axis(a, idx, 1))
    out = ember.zeros(3, 4, dtype=ember.float64).scatter_add(1, ember.tensor(idx), ember.tensor(np.ones((3, 2))))
    expect = np.zeros((3, 4))
    for i in range(3):
        for j in range(2):
            expect[i, idx[i, j]] += 1
    np.testing.assert_array_equal(out.numpy(), expect)
    np.testing.assert_array_equal(ember.tensor(a).index_select(0, ember.tensor([2, 0])).numpy(), a[[2, 0]])
    np.testing.assert_array_equal(ember.tensor(a).masked_fill(ember.tensor(a > 0), 0).numpy(), np.where(a > 0, 0, a))


def test_inplace_scatter_and_index_ops():
    x = ember.zeros(2, 3)
    x.scatter_(1, ember.tensor([[1], [2]]), 1.0)
    assert x.tolist() == [[0, 1, 0], [0, 0, 1]]
    x.scatter_add_(0, ember.tensor([[0, 0, 0]]), ember.ones(1, 3))
    assert x.tolist() == [[1, 2, 1], [0, 0, 1]]
    x.index_add_(1, ember.tensor([0, 0]), ember.ones(2, 2))
    assert x.tolist() == [[3, 2, 1], [2, 0, 1]]
    x.masked_fill_(x > 1.5, -1)
    assert x.tolist() == [[-1, -1, 1], [-1, 0, 1]]


# ---- indexing: read -------------------------------------------------------------------------------------------
READ_KEYS = [
    ('int', lambda L, x: x[1]), ('neg_int', lambda L, x: x[-1, -2]), ('slice', lambda L, x: x[:, 1:3]),
    ('step', lambda L, x: x[::2, :, 1::2]), ('none', lambda L, x: x[None, :, None, 1]),
    ('ellipsis', lambda L, x: x[..., 2]), ('ellipsis_none', lambda L, x: x[0, ..., None]),
    ('list', lambda L, x: x[[0, 1, 1]]), ('two_lists', lambda L, x: x[[0, 1], [2, 0]]),
    ('list_after_slice', lambda L, x: x[:, [0, 2], 1:]), ('int_slice_list', lambda L, x: x[0, :, [1, 3]]),
    ('separated_lists', lambda L, x: x[[0, 1], :, [1, 3]]), ('adjacent_lists', lambda L, x: x[:, [0, 2], [1, 3]]),
    ('tensor_2d', lambda L, x: x[I(L, [[0, 1], [1, 0]])]), ('repeated', lambda L, x: x[:, I(L, [2, 2, 0, 2])]),
    ('mask_full', lambda L, x: x[x > 0.3]), ('mask_prefix', lambda L, x: x[x[:, :, 0] > 0]),
    ('mask_dim', lambda L, x: x[:, L.tensor([True, False, True])]), ('tensor_scalar', lambda L, x: x[I(L, 1), 2]),
    ('numpy_index', lambda L, x: x[np.array([1, 0])]), ('out_of_range_slice', lambda L, x: x[5:10]),
    ('clipped_slice', lambda L, x: x[:, -10:2]), ('bool_true', lambda L, x: x[True]),
    ('mask_and_list', lambda L, x: x[L.tensor([True, False]), :, [1, 2]]),
    ('list_ellipsis', lambda L, x: x[[0, 1], ..., [0, 1]]),
]


@pytest.mark.parametrize('name,fn', READ_KEYS, ids=[k[0] for k in READ_KEYS])
def test_index_read_gradcheck(name, fn):
    gradcheck_op(fn, rnd(2, 3, 4))


@pytest.mark.parametrize('name,fn', READ_KEYS, ids=[k[0] for k in READ_KEYS])
def test_index_read_parity(name, fn):
    assert_parity(fn, rnd(2, 3, 4))


def test_index_read_matches_numpy_basic():
    a = rnd(2, 3, 4)
    x = ember.tensor(a)
    for key in [(1,), (slice(None), 1), (Ellipsis, None, 2), ([0, 1], [2, 0]), (a > 0,), (slice(None), [0, 2])]:
        np.testing.assert_array_equal(x[key if len(key) > 1 else key[0]].numpy(), a[key if len(key) > 1 else key[0]])


# ---- indexing: write (index_put_) -----------------------------------------------------------------------------
WRITE_KEYS = [  # (name, fn(L, x, v) writing into x, shape of x and v)
    ('mask', lambda L, x, v: x.__setitem__(x < 0, 0.0), (2, 3)),
    ('mask_tensor_value', lambda L, x, v: x.__setitem__(x > 0, v[0, :1]), (2, 3)),
    ('int', lambda L, x, v: x.__setitem__(0, v[1]), (2, 3)),
    ('slice', lambda L, x, v: x.__setitem__((slice(None), 1), 2.5), (2, 3)),
    ('slice_tensor', lambda L, x, v: x.__setitem__((Ellipsis, slice(0, 2)), v[:, :2] * 2), (2, 3)),
    ('list', lambda L, x, v: x.__setitem__([1, 0], v[[0, 1]]), (2, 3)),
    ('broadcast', lambda L, x, v: x.__setitem__((slice(None), [0, 2]), v[0, :1]), (2, 3)),
    ('int_slice_list', lambda L, x, v: x.__setitem__((0, slice(None), [1, 2]), v[0, :, :2]), (2, 3, 3)),
    ('mask_prefix', lambda L, x, v: x.__setitem__(v[:, :, 0] > 0, v[0, 0]), (2, 3, 3)),
]


def _write_fn(fn):
    def run(L, x, v):
        y = x * 1  # a non-leaf to write into
        fn(L, y, v)
        return y
    return run


@pytest.mark.parametrize('name,fn,shape', WRITE_KEYS, ids=[k[0] for k in WRITE_KEYS])
def test_index_write_gradcheck(name, fn, shape):
    gradcheck_op(_write_fn(fn), rnd(*shape), rnd(*shape))


@pytest.mark.parametrize('name,fn,shape', WRITE_KEYS, ids=[k[0] for k in WRITE_KEYS])
def test_index_write_parity(name, fn, shape):
    assert_parity(_write_fn(fn), rnd(*shape), rnd(*shape))


def test_relu_backward_style_mask_assignment():
    # the tutorial's manual backward: grad_h = grad_h_relu.clone(); grad_h[h < 0] = 0
    h = rnd(4, 5)
    g = rnd(4, 5)
    grad_h = ember.tensor(g).clone()
    grad_h[ember.tensor(h) < 0] = 0
    np.testing.assert_array_equal(grad_h.numpy(), np.where(h < 0, 0, g))

    def masked(L, g, h):
        t = g.clone()
        t[h < 0] = 0
        return t
    assert_parity(masked, g, h, grad=False, rtol=0, atol=0)


def test_setitem_without_grad_writes_in_place_and_into_views():
    x = ember.zeros(3, 4)
    ptr = x.data_ptr()
    x[1] = 1
    x[:, -1] = ember.tensor([5.0, 6.0, 7.0])
    x[[0, 2], [0, 0]] = 9
    x[x == 6] = -6
    v = x[2]
    v[1:3] = 4
    assert x.data_ptr() == ptr
    assert x.tolist() == [[9, 0, 0, 5], [1, 1, 1, -6], [9, 4, 4, 7]]


def test_setitem_on_leaf_requiring_grad_raises():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match='leaf Variable that requires grad is being used in an in-place operation'):
        x[0] = 2
    with ember.no_grad():
        x[0] = 2
    assert x.tolist() == [2, 1, 1]


def test_index_put_accumulate():
    x = ember.zeros(4)
    x.index_put_((ember.tensor([0, 0, 3]),), ember.tensor([1.0, 2.0, 5.0]), accumulate=True)
    assert x.tolist() == [3, 0, 0, 5]
    x.index_put_((ember.tensor([1]),), ember.tensor([7.0]))
    assert x.tolist() == [3, 7, 0, 5]


# ---- errors -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('fn,exc,msg', [
    (lambda x: x.view(5), RuntimeError, r"shape '\[5\]' is invalid for input of size 24"),
    (lambda x: x.reshape(-1, -1), RuntimeError, 'only one dimension can be inferred'),
    (lambda x: x.reshape(5, -1), RuntimeError, r"shape '\[5, -1\]' is invalid for input of size 24"),
    (lambda x: x.permute(0, 0, 1), RuntimeError, 'permute\\(\\): duplicate dims are not allowed'),
    (lambda x: x.permute(0, 1), RuntimeError, "number of dims don't match"),
    (lambda x: x.expand(4, 3, 4), RuntimeError, r'expanded size of the tensor \(4\) must match the existing size \(2\) '
                                                r'at non-singleton dimension 0'),
    (lambda x: x.expand(3, 4), RuntimeError, 'the number of sizes provided \\(2\\) must be greater or equal'),
    (lambda x: x.unsqueeze(4), IndexError, r'expected to be in range of \[-4, 3\], but got 4'),
    (lambda x: x.transpose(0, 3), IndexError, r'expected to be in range of \[-3, 2\], but got 3'),
    (lambda x: x.squeeze(5), IndexError, 'Dimension out of range'),
    (lambda x: x.flatten(2, 0), RuntimeError, 'start_dim cannot come after end_dim'),
    (lambda x: x.unflatten(1, (2, 2)), RuntimeError, "unflatten: Provided sizes \\[2, 2\\] don't multiply up to the "
                                                     "size of dim 1 \\(3\\)"),
    (lambda x: x.repeat(2, 2), RuntimeError, 'Number of dimensions of repeat dims can not be smaller'),
    (lambda x: x.roll((1, 2), (0,)), RuntimeError, 'shifts and dimensions must align'),
    (lambda x: x.narrow(1, 2, 3), RuntimeError, r'start \(2\) \+ length \(3\) exceeds dimension size \(3\)'),
    (lambda x: x.chunk(0), RuntimeError, 'chunk expects `chunks` to be greater than 0, got: 0'),
    (lambda x: x.split(0), RuntimeError,
     'split_size can only be 0 if dimension size is 0, but got dimension size of 2'),
    (lambda x: x.split(-1), RuntimeError, 'split expects split_size be non-negative, but got split_size=-1'),
    (lambda x: x.split([1, 1], 1), RuntimeError, 'split_with_sizes expects split_sizes to sum exactly to 3'),
    (lambda x: x.t(), RuntimeError, 't\\(\\) expects a tensor with <= 2 dimensions, but self is 3D'),
    (lambda x: x[0, 0].tril(), RuntimeError, 'tril: input tensor must have at least 2 dimensions'),
    (lambda x: x.select(1, 3), IndexError, 'index 3 out of range'),
    (lambda x: x.flip(3), IndexError, 'Dimension out of range'),
    (lambda x: ember.cat([x, x[:, :2, :3]], 1), RuntimeError, 'Sizes of tensors must match except in dimension 1. '
                                                              'Expected size 4 but got size 3 for tensor number 1'),
    (lambda x: ember.cat([x, x[0]]), RuntimeError, 'Tensors must have same number of dimensions: got 3 and 2'),
    (lambda x: ember.cat([]), RuntimeError, 'expected a non-empty list of Tensors'),
    (lambda x: ember.cat([x, 1]), TypeError, 'expected a sequence of Tensors'),
    (lambda x: ember.stack([x, x[:, :2]]), RuntimeError, r'stack expects each tensor to be equal size, but got '
                                                         r'\[2, 3, 4\] at entry 0 and \[2, 2, 4\] at entry 1'),
    (lambda x: ember.cat([x, x], 3), IndexError, r'expected to be in range of \[-3, 2\], but got 3'),
    (lambda x: x[2], IndexError, 'index 2 is out of bounds for dimension 0 with size 2'),
    (lambda x: x[:, :, 9], IndexError, 'index 9 is out of bounds for dimension 2 with size 4'),
    (lambda x: x[0, 0, 0, 0], IndexError, 'too many indices for tensor of dimension 3'),
    (lambda x: x[[0, 5]], IndexError, 'index 5 is out of bounds for dimension 0 with size 2'),
    (lambda x: x[::-1], ValueError, 'step must be greater than zero'),
    (lambda x: x[ember.tensor([0.0])], IndexError, 'tensors used as indices must be long, int, byte or bool'),
    (lambda x: x.gather(1, ember.tensor([[[5]]])), RuntimeError,
     'index 5 is out of bounds for dimension 1 with size 3'),
    (lambda x: x.gather(1, ember.tensor([[[1.0]]])), RuntimeError, 'Expected dtype int32/int64 for index'),
    (lambda x: x.gather(1, ember.tensor([[1]])), RuntimeError, 'Index tensor must have the same number of dimensions'),
    (lambda x: x.scatter(0, ember.tensor([[[3]]]), 1.0), RuntimeError, 'index 3 is out of bounds for dimension 0'),
    (lambda x: x.index_select(0, ember.tensor([[0]])), IndexError, 'index_select\\(\\): Expected index to be a 1-D'),
    (lambda x: x.masked_fill(x[0] > 0, x[0]), RuntimeError, 'only supports a 0-dimensional value tensor'),
    (lambda x: x.masked_fill(ember.ones(2, 3, 4), 0.0), RuntimeError, 'only supports boolean masks'),
    (lambda x: x.masked_fill(ember.ones(3, 1, 4) > 0, 0.0), RuntimeError, r'size of tensor a \(3\) must match the '
                                                                           r'size of tensor b \(2\)'),
])
def test_shape_index_errors(fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(ember.ones(2, 3, 4))


@pytest.mark.parametrize('fn', [
    lambda L, x: x.view(5), lambda L, x: x.permute(0, 0, 1), lambda L, x: x.expand(4, 3, 4),
    lambda L, x: x.unsqueeze(4), lambda L, x: x.narrow(1, 2, 3), lambda L, x: x[2], lambda L, x: x[::-1],
    lambda L, x: L.cat([x, x[:, :2, :3]], 1), lambda L, x: L.stack([x, x[:, :2]]), lambda L, x: x.chunk(0),
    lambda L, x: x.gather(1, L.tensor([[[5]]])), lambda L, x: x.t(), lambda L, x: x[0, 0, 0, 0],
])
def test_error_types_match_torch(fn):
    assert_raises_like_torch(lambda L: fn(L, L.ones(2, 3, 4)))


def test_inplace_on_view_updates_base_gradient():
    x = ember.ones(2, 3, requires_grad=True)
    y = x * 1
    y[:, 0].mul_(2)
    y.sum().backward()
    assert x.grad.tolist() == [[2.0, 1.0, 1.0], [2.0, 1.0, 1.0]]


# ---- empty inputs (issue 10) ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('parts', [[(0,), (2,)], [(2,), (0,), (3,)], [(0,), (0,)], [(0,), (2, 3)], [(0, 3), (2, 3)]])
def test_cat_gives_empty_inputs_empty_grads(parts):
    def run(T):
        leaves = [T.ones(s, requires_grad=True) for s in parts]
        r = T.cat(leaves)
        (r * 2).sum().backward()
        return list(r.shape), [None if t.grad is None else t.grad.tolist() for t in leaves]
    assert_same_outcome(run)


@pytest.mark.parametrize('expr', ['b[1:].add_(1)', 'b[1:].mul_(2)', 'b[:, :0].fill_(3)', 'b.t()[0:0].zero_()',
                                  'b[1:].copy_(T.ones(2, 0))', 'b.expand(2, 3, 0).clone().add_(1)'])
def test_inplace_on_empty_views(expr):
    def run(T):
        b = T.zeros(3, 0)
        r = eval(expr, {'T': T, 'b': b})
        return list(r.shape), list(b.shape)
    assert_same_outcome(run)


@pytest.mark.parametrize('expr', [
    's.expand()', 's.permute()', 's.repeat()', 's.flatten(1)', 's.transpose(1, 0)', 'T.cat([T.zeros(2), s])',
    'T.cat([T.zeros(0), T.zeros(0)], -2)', 'T.zeros(2, 0).chunk(3, 1)', 'T.zeros(3).narrow(0, 4, 0)',
    's.index_select(0, T.tensor([0, 0]))', 'T.zeros(0).index_select(0, T.tensor([0]))',
    'T.zeros(3, 0).index_select(1, T.tensor([0]))', 'T.tensor(5).nonzero()', 'T.zeros(0, 3).diagonal().add_(1)',
    'T.stack([T.zeros(2), s], 3)', 'T.zeros(0).roll(1, 1)', 'T.ones(2, 3).t().clone().view(-1)',
    '(last := T.zeros(3)).__setitem__([0], T.tensor(1, dtype=T.int32))',
    '(last := T.zeros(3)).__setitem__([], T.tensor(1.))',
    '(last := T.zeros(3)).__setitem__(T.tensor([True, False, True]), T.tensor([2.], dtype=T.float64))',
    '(last := s.clone()).__setitem__((), T.tensor([[4.]]))',
    'T.zeros(1, dtype=T.int32).masked_fill(T.tensor([True]), 2 ** 40)',
    'T.tensor(2).masked_fill(T.tensor([True, False]), 1)'])
def test_shape_and_index_edge_cases_match_torch(expr):
    def run(T):
        env = {'T': T, 's': T.tensor(3.)}
        try:
            r = eval(expr, env)
        except Exception as e:
            return type(e).__name__
        if r is None:  # __setitem__: the target is the result
            r = env['last']
        rs = r if isinstance(r, tuple) else (r,)
        return [(list(t.shape), t.tolist()) for t in rs if t is not None]
    assert_same_outcome(run)
