"""Work handles for async collectives, and the runner that starts a collective now or as a Work."""
import time

from .distributed_c10d import _begin, _end, _seconds


# ---- work handles --------------------------------------------------------------------------------------------------
class _Future:
    """The completion of a Work, as torch.futures.Future: ``wait()``, ``value()``, ``done()``, ``then(fn)``."""

    def __init__(self, work):
        self._work = work

    def wait(self):
        self._work.wait()
        return self._work.result()

    value = wait

    def done(self):
        return self._work.is_completed()

    def then(self, callback):
        self.wait()
        out = _Done(callback(self))
        return out

    def add_done_callback(self, callback):
        self.wait()
        callback(self)


class _Done:
    def __init__(self, value):
        self._value = value

    def wait(self):
        return self._value

    value = wait

    def done(self):
        return True


class Work:
    """A collective started with ``async_op=True``: ``wait()`` blocks until it has finished (the output tensors
    then hold the result), ``is_completed()`` tests without blocking."""

    def __init__(self, name, requests, finish=None, result=None, source=None):
        self._name, self._reqs, self._finish, self._result = name, list(requests), finish, result
        self._done, self._exc, self._source = False, None, source

    def _complete(self):
        self._done = True
        self._reqs = []
        if self._finish is not None:
            fn, self._finish = self._finish, None
            try:
                fn()
            except Exception as e:
                self._exc = e
                raise

    def is_completed(self):
        if not self._done:
            try:
                if all(r.Test() for r in self._reqs):
                    self._complete()
            except Exception as e:
                raise _translate(e, self._name) from None
        return self._done

    def wait(self, timeout=None):
        if self._done:
            return True
        try:
            if timeout is not None:
                deadline = time.monotonic() + _seconds(timeout)
                while not all(r.Test() for r in self._reqs):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f'{self._name}: wait() timed out after {timeout}')
                    time.sleep(0.0002)
            else:
                _begin(self._name)
                try:
                    for r in self._reqs:
                        r.Wait()
                finally:
                    _end()
        except RuntimeError:
            raise
        except Exception as e:
            raise _translate(e, self._name) from None
        self._complete()
        return True

    synchronize = wait

    def is_success(self):
        return self._done and self._exc is None

    def exception(self):
        return self._exc

    def result(self):
        self.wait()
        return list(self._result or [])

    def source_rank(self):
        self.wait()
        if self._source is None:
            raise RuntimeError('source_rank() is only available on the work of a recv')
        return self._source() if callable(self._source) else self._source

    def get_future(self):
        return _Future(self)


class _NoWork(Work):
    def __init__(self):
        super().__init__('noop', [])
        self._done = True


def _translate(e, name):
    if isinstance(e, RuntimeError):
        return e
    return RuntimeError(f'ember.distributed.{name}: {type(e).__name__}: {e}')


def _run(name, start, finish, async_op, result=None, source=None):
    """Start a collective (``start(nonblocking)``), then finish it now or hand back a Work that will."""
    try:
        if async_op:
            return Work(name, [start(True)], finish, result, source)
        _begin(name)
        try:
            start(False)
        finally:
            _end()
    except (ValueError, TypeError, RuntimeError):
        raise
    except Exception as e:
        raise _translate(e, name) from None
    if finish is not None:
        finish()
    return None


def _nonmember(async_op):
    return _NoWork() if async_op else None
