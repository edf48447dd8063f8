"""ctc_loss and nn.CTCLoss against PyTorch: padded and concatenated targets, reductions, zero_infinity, blank,
unbatched input, infeasible alignments, float32/float64 values and PyTorch's gradient, and its errors."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, needs_torch, torch

F = ember.nn.functional


def _case(T=7, N=3, C=5, S=4, seed=0, blank=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, C))
    labels = [c for c in range(C) if c != blank]
    targets = rng.choice(labels, size=(N, S)).astype(np.int64)
    targets[0, 1] = targets[0, 0]                         # a repeated label: the path must pass a blank between
    return x, targets


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('zero_infinity', [False, True])
def test_ctc_padded_targets(reduction, zero_infinity):
    x, tg = _case()
    il, tl = [7, 5, 6], [4, 2, 0]

    def fn(lib, lp, t):
        return lib.nn.functional.ctc_loss(lp.log_softmax(2), t, il, tl, reduction=reduction,
                                          zero_infinity=zero_infinity)
    assert_parity(fn, x, tg, rtol=1e-9, atol=1e-12)
    assert_parity(fn, x.astype(np.float32), tg, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('blank', [0, 2, 4])
def test_ctc_concatenated_targets_and_blank(blank):
    x, tg = _case(blank=blank, seed=blank)
    tl = np.array([3, 1, 2])
    flat = np.concatenate([tg[n, :tl[n]] for n in range(3)])
    il = np.array([7, 7, 4])
    assert_parity(lambda lib, lp, t, i, l: lib.nn.functional.ctc_loss(lp.log_softmax(2), t, i, l, blank=blank,
                                                                      reduction='none'),
                  x, flat, il, tl, rtol=1e-9, atol=1e-12)


def test_ctc_gradient_is_pytorchs_on_raw_log_probs():
    # PyTorch's backward returns exp(log_probs) - posterior (the gradient through a log_softmax), not the plain
    # derivative: fed log_probs directly, ember must give the same numbers
    x, tg = _case(seed=3)
    assert_parity(lambda lib, lp, t: lib.nn.functional.ctc_loss(lp, t, [7, 7, 7], [4, 3, 2], reduction='sum'),
                  x, tg, rtol=1e-9, atol=1e-12)


def test_ctc_infeasible_and_zero_infinity():
    x, tg = _case(T=3, seed=4)
    il, tl = [3, 3, 3], [4, 1, 3]                         # 4 labels with a repeat cannot fit in 3 frames
    for zi in (False, True):
        for red in ('none', 'sum', 'mean'):
            assert_parity(lambda lib, lp, t: lib.nn.functional.ctc_loss(lp.log_softmax(2), t, il, tl, reduction=red,
                                                                        zero_infinity=zi), x, tg)
    loss = F.ctc_loss(ember.tensor(x).log_softmax(2), ember.tensor(tg), il, tl, reduction='none')
    assert np.isinf(loss[0].item()) and np.isfinite(loss[1].item())


def test_ctc_zero_lengths():
    x, tg = _case(seed=5)
    assert_parity(lambda lib, lp, t: lib.nn.functional.ctc_loss(lp.log_softmax(2), t, [7, 0, 3], [0, 0, 1],
                                                                reduction='none'), x, tg)


def test_ctc_unbatched():
    x, tg = _case(N=1, seed=6)
    for red in ('none', 'mean', 'sum'):
        assert_parity(lambda lib, lp, t, i, l: lib.nn.functional.ctc_loss(lp.log_softmax(1), t, i, l, reduction=red),
                      x[:, 0], tg[0, :3], np.array(7), np.array(3))
    out = F.ctc_loss(ember.tensor(x[:, 0]).log_softmax(1), ember.tensor(tg[0, :3]), ember.tensor(7), ember.tensor(3),
                     reduction='none')
    assert out.shape == ()


def test_ctc_int32_lengths_and_targets_and_names():
    x, tg = _case(seed=7)
    lp = ember.tensor(x, requires_grad=True).log_softmax(2)
    a = F.ctc_loss(lp, ember.tensor(tg).int(), ember.tensor([7, 6, 5]).int(), ember.tensor([4, 3, 2]).int())
    b = F.ctc_loss(lp, ember.tensor(tg), [7, 6, 5], [4, 3, 2])
    assert np.allclose(a.item(), b.item()) and a.grad_fn.name() == 'MeanBackward0'
    assert F.ctc_loss(lp, ember.tensor(tg), [7, 6, 5], [4, 3, 2], reduction='none').grad_fn.name() == \
        'CtcLossBackward0'


def test_ctc_layer():
    x, tg = _case(seed=8)
    m = ember.nn.CTCLoss(blank=0, reduction='sum', zero_infinity=True)
    assert repr(m) == 'CTCLoss()' and m.blank == 0 and m.zero_infinity
    lp = ember.tensor(x).log_softmax(2)
    assert m(lp, ember.tensor(tg), [7, 7, 7], [4, 4, 4]).item() == pytest.approx(
        F.ctc_loss(lp, ember.tensor(tg), [7, 7, 7], [4, 4, 4], reduction='sum', zero_infinity=True).item())


@needs_torch
def test_ctc_random_against_torch():
    rng = np.random.default_rng(11)
    for trial in range(30):
        T, N, C = int(rng.integers(1, 8)), int(rng.integers(1, 4)), int(rng.integers(2, 5))
        blank, S = int(rng.integers(0, C)), int(rng.integers(0, 5))
        x = rng.standard_normal((T, N, C))
        tg = rng.choice([c for c in range(C) if c != blank], size=(N, S)) if S else np.zeros((N, 0), np.int64)
        il, tl = rng.integers(0, T + 1, N).tolist(), rng.integers(0, S + 1, N).tolist()
        red = ('none', 'mean', 'sum')[trial % 3]
        tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
        to = torch.nn.functional.ctc_loss(tx.log_softmax(2), torch.tensor(tg), il, tl, blank, red, trial % 2 == 1)
        eo = F.ctc_loss(ex.log_softmax(2), ember.tensor(tg), il, tl, blank, red, trial % 2 == 1)
        np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-9, atol=1e-12)
        w = rng.standard_normal(tuple(to.shape))
        (to * torch.tensor(w)).sum().backward()
        (eo * ember.tensor(w)).sum().backward()
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12, equal_nan=True)


_WHY = r'\(while checking arguments for ctc_loss_allocate_outputs\)'


@pytest.mark.parametrize('kw,exc,msg', [
    (dict(input_lengths=[8, 5, 5]), RuntimeError, r'Expected input_lengths to have value at most 7, but got value 8 '
                                                  + _WHY),
    (dict(target_lengths=[5, 2, 2]), RuntimeError, r"Expected tensor to have size at least 5 at dimension 1, but got "
                                                   r"size 4 for argument #2 'targets' " + _WHY),
    (dict(targets=ember.tensor([1, 2, 3, 4])), RuntimeError, r"Expected tensor to have size 6 at dimension 0, but got "
                                                             r"size 4 for argument #2 'targets' " + _WHY),
    (dict(targets=ember.ones(2, 4, dtype=ember.int64)), RuntimeError, r"Expected tensor to have size 3 at dimension 0, "
                                                                      r"but got size 2 for argument #2 'targets'"),
    (dict(target_lengths=[3, -1, 2]), RuntimeError, 'Expected target_lengths to have value at least 0, but got value '
                                                    '-1'),
    (dict(input_lengths=[3, -1, 2]), RuntimeError, 'Expected input_lengths to have value at least 0'),
    (dict(input_lengths=[7, 7]), RuntimeError, 'input_lengths must be of size batch_size'),
    (dict(target_lengths=[1]), RuntimeError, 'target_lengths must be of size batch_size'),
    (dict(blank=5), RuntimeError, 'blank must be in label range'),
    (dict(blank=-1), RuntimeError, 'blank must be in label range'),
    (dict(reduction='avg'), ValueError, 'avg is not a valid value for reduction'),
    (dict(input_lengths=ember.tensor([7., 7., 7.])), RuntimeError, 'input_lengths must be integral'),
    (dict(log_probs=ember.zeros(7, 3, 5, dtype=ember.int64)), NotImplementedError,
     '"ctc_loss_cpu" not implemented for \'Long\''),
    (dict(log_probs=ember.zeros(7, 3, 5, 1)), RuntimeError, "Expected 3-dimensional tensor, but got 4-dimensional "
                                                            "tensor for argument #1 'log_probs'"),
])
def test_ctc_errors(kw, exc, msg):
    x, tg = _case()
    args = dict(log_probs=ember.tensor(x).log_softmax(2), targets=ember.tensor(tg), input_lengths=[7, 7, 7],
                target_lengths=[2, 2, 2])
    args.update(kw)
    with pytest.raises(exc, match=msg):
        F.ctc_loss(**args)
