"""Switches for graph recording: no_grad, enable_grad, set_grad_enabled, inference_mode (contexts and decorators)."""
import functools


class _State:
    """Process-wide autograd switches, read by every op (plain class attributes: the cheapest lookup)."""
    grad_enabled = True
    anomaly = False
    anomaly_check_nan = True


def is_grad_enabled():
    return _State.grad_enabled


class _GradMode:
    """Base for the grad-mode contexts; instances also decorate functions."""
    _enabled = True

    def __enter__(self):
        self._prev = _State.grad_enabled
        _State.grad_enabled = self._enabled

    def __exit__(self, *exc):
        _State.grad_enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args()):
                return fn(*args, **kwargs)
        return wrapper

    def _args(self):
        return ()

    def clone(self):
        return self.__class__(*self._args())


class no_grad(_GradMode):
    """Ops inside do not record a graph; results do not require grad."""
    _enabled = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if callable(fn):  # used as @no_grad without parentheses
            return self(fn)
        return self

    def __init__(self, fn=None):
        pass


class enable_grad(no_grad):
    """Turn recording back on inside a no_grad region."""
    _enabled = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)``: takes effect immediately, and as a context restores the previous mode."""

    def __init__(self, mode):
        self._enabled = bool(mode)
        self._prev = _State.grad_enabled
        _State.grad_enabled = self._enabled

    def __enter__(self):
        pass

    def __call__(self, fn):
        # as a decorator it must not leave the mode switched: restore it, and switch only inside calls
        _State.grad_enabled = self._prev
        return super().__call__(fn)

    def _args(self):
        return (self._enabled,)


class inference_mode(_GradMode):
    """Like no_grad (ember has no separate inference tensors); ``inference_mode(False)`` is a no-op."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):  # used as @inference_mode without parentheses
            self._mode, self._enabled = True, False
            return self(mode)
        return self

    def __init__(self, mode=True):
        self._mode = bool(mode) if not callable(mode) else True
        self._enabled = not self._mode if self._mode else _State.grad_enabled

    def __enter__(self):
        self._prev = _State.grad_enabled
        if self._mode:
            _State.grad_enabled = False

    def _args(self):
        return (self._mode,)
