"""L-BFGS: limited-memory quasi-Newton steps on all parameters as one vector, with optional strong-Wolfe search."""
from .optimizer import Optimizer, _check_lr
from .._tensor import Tensor, _wrap
from ..autograd.grad_mode import enable_grad

__all__ = ['LBFGS']


def _arr(x):
    """Stored state back to what the algorithm computes with: arrays for tensors, array scalars for 0-d ones."""
    if isinstance(x, Tensor):
        return x._data[()] if x._data.ndim == 0 else x._data
    if isinstance(x, list):
        return [_arr(v) for v in x]
    return x


def _ten(x, device):
    """What the algorithm computed, as state: arrays and array scalars become tensors, numbers stay numbers."""
    if isinstance(x, list):
        return [_ten(v, device) for v in x]
    if x is None or isinstance(x, (int, float)):
        return x
    xp = device.xp
    return _wrap(x if getattr(x, 'ndim', 0) else xp.asarray(x), device)


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to ``bounds`` (by default
    the interval between the points); the interval's midpoint when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 ** 2 - g1 * g2
    if disc >= 0:
        d2 = disc ** 0.5
        if x1 <= x2:
            t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(t, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Find a step ``t`` along ``d`` meeting the strong Wolfe conditions (Nocedal & Wright, algorithms 3.5 and
    3.6: bracketing by cubic extrapolation, then zooming by cubic interpolation with safeguards).
    ``evaluate(t)`` returns (loss, flat gradient) at ``x + t d``. Returns (loss, gradient, t, evaluations)."""
    xp_abs_max = abs(d).max()
    g = g.copy()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = g_new.dot(d)
    # (t, f, g, gtd) of the previous trial point
    prev = [0, f, g, gtd]
    done = False
    it = 0
    bracket = None
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= prev[1]):
            bracket = [prev, [t, f_new, g_new.copy(), gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket = [[t, f_new, g_new, gtd_new]]
            done = True
            break
        if gtd_new >= 0:
            bracket = [prev, [t, f_new, g_new.copy(), gtd_new]]
            break
        lo_step = t + 0.01 * (t - prev[0])
        hi_step = t * 10
        t_old = t
        t = _cubic_min(prev[0], prev[1], prev[3], t, f_new, gtd_new, bounds=(lo_step, hi_step))
        prev = [t_old, f_new, g_new.copy(), gtd_new]
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        it += 1
    if it == max_ls:
        bracket = [[0, f, g, None], [t, f_new, g_new, None]]
    # zoom: shrink the bracket until a point meets the conditions
    stalled = False
    lo, hi = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while not done and it < max_ls:
        a, b = bracket[0][0], bracket[1][0]
        if abs(b - a) * xp_abs_max < tolerance_change:
            break
        t = _cubic_min(a, bracket[0][1], bracket[0][3], b, bracket[1][1], bracket[1][3])
        top, bottom = max(a, b), min(a, b)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:
            # too close to an end: accept once, move inside the interval if it happens again or falls outside
            if stalled or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket[lo][1]:
            bracket[hi] = [t, f_new, g_new.copy(), gtd_new]
            lo, hi = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[hi][0] - bracket[lo][0]) >= 0:
                bracket[hi] = list(bracket[lo])
            bracket[lo] = [t, f_new, g_new.copy(), gtd_new]
    t, f_new, g_new = bracket[lo][0], bracket[lo][1], bracket[lo][2]
    return f_new, g_new, t, evals


class LBFGS(Optimizer):
    """L-BFGS (after minFunc): ``step(closure)`` runs up to ``max_iter`` iterations, each a two-loop recursion
    over the last ``history_size`` curvature pairs and a fixed step ``lr`` or a strong-Wolfe line search.
    One parameter group only; all parameters are treated as one flat vector."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        _check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]['params']

    def __setstate__(self, state):
        super().__setstate__(state)
        self._params = self.param_groups[0]['params']

    # ---- the parameters as one vector -------------------------------------------------------------------------
    def _flat_grad(self):
        p0 = self._params[0]
        xp = p0._device.xp
        parts = [p.grad._data.reshape(-1) if p.grad is not None else xp.zeros(p._data.size, p._data.dtype)
                 for p in self._params]
        return xp.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def _add_to_params(self, t, d):
        o = 0
        for p in self._params:
            n = p._data.size
            p._data += t * d[o:o + n].reshape(p._data.shape)
            p._bump()
            o += n

    def _param_copy(self):
        return [p._data.copy() for p in self._params]

    def _restore(self, saved):
        for p, a in zip(self._params, saved):
            p._device.xp.copyto(p._data, a)
            p._bump()

    def _evaluate(self, closure):
        with enable_grad():
            return float(closure())

    def step(self, closure):
        """Run the optimisation; ``closure`` clears the gradients, computes the loss, backpropagates and returns
        the loss. Returns the loss from the first evaluation."""
        group = self.param_groups[0]
        lr, max_iter, max_eval = group['lr'], group['max_iter'], group['max_eval']
        tolerance_grad, tolerance_change = group['tolerance_grad'], group['tolerance_change']
        line_search_fn, history_size = group['line_search_fn'], group['history_size']
        dev = self._params[0]._device
        state = self.state[self._params[0]]
        state.setdefault('func_evals', 0)
        state.setdefault('n_iter', 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state['func_evals'] += 1
        flat_grad = self._flat_grad()
        if abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = _arr(state.get('d')), _arr(state.get('t'))
        old_dirs, old_stps, ro = _arr(state.get('old_dirs')), _arr(state.get('old_stps')), _arr(state.get('ro'))
        H_diag = _arr(state.get('H_diag'))
        prev_flat_grad, prev_loss = _arr(state.get('prev_flat_grad')), state.get('prev_loss')
        al = _arr(state['al']) if 'al' in state else None

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state['n_iter'] += 1
            if state['n_iter'] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                # new curvature pair (y, s), kept only when it keeps the Hessian approximation positive definite
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                if al is None:
                    al = [None] * history_size
                # two-loop recursion: d = -H g
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            if state['n_iter'] == 1:
                t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break

            ls_evals = 0
            if line_search_fn is not None:
                if line_search_fn != 'strong_wolfe':
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x0 = self._param_copy()

                def evaluate(step_t, _d=d, _x0=x0):
                    self._add_to_params(step_t, _d)
                    value = self._evaluate(closure)
                    grad = self._flat_grad()
                    self._restore(_x0)
                    return value, grad
                loss, flat_grad, t, ls_evals = _strong_wolfe(evaluate, t, d, loss, flat_grad, gtd)
                self._add_to_params(t, d)
                opt_cond = abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    opt_cond = abs(flat_grad).max() <= tolerance_grad
                    ls_evals = 1
            evals += ls_evals
            state['func_evals'] += ls_evals

            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state['d'] = _ten(d, dev)
        state['t'] = _ten(t, dev)
        state['old_dirs'] = _ten(old_dirs, dev)
        state['old_stps'] = _ten(old_stps, dev)
        state['ro'] = _ten(ro, dev)
        state['H_diag'] = _ten(H_diag, dev)
        state['prev_flat_grad'] = _ten(prev_flat_grad, dev)
        state['prev_loss'] = prev_loss
        if al is not None:
            state['al'] = _ten(al, dev)
        return orig_loss
