"""Anomaly detection: name the first op whose forward or backward makes NaN/inf, and the user line that ran it."""
from .grad_mode import _State


def is_anomaly_enabled():
    return _State.anomaly


class set_detect_anomaly:
    """Turn anomaly detection on or off: immediately, and as a context restoring the previous mode."""

    def __init__(self, mode, check_nan=True):
        self._prev = (_State.anomaly, _State.anomaly_check_nan)
        _State.anomaly, _State.anomaly_check_nan = bool(mode), bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _State.anomaly, _State.anomaly_check_nan = self._prev
        return False


class detect_anomaly:
    """Context manager (or decorator) enabling anomaly detection inside it."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = (_State.anomaly, _State.anomaly_check_nan)
        _State.anomaly, _State.anomaly_check_nan = True, self.check_nan
        return self

    def __exit__(self, *exc):
        _State.anomaly, _State.anomaly_check_nan = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with detect_anomaly(self.check_nan):
                return fn(*a, **k)
        return wrapper
