"""Hook handles, as torch.utils.hooks: what every ``register_*_hook`` returns, for tensors, modules and optimizers."""
import itertools


class RemovableHandle:
    """``remove()`` unregisters the hook from every dict it was added to; also usable as a context manager."""
    _next_id = itertools.count()

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.id = next(RemovableHandle._next_id)
        self._dicts = [hooks_dict]
        if extra_dict is not None:
            self._dicts += extra_dict if isinstance(extra_dict, list) else [extra_dict]

    def remove(self):
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def add_hook(hooks, hook, prepend=False, extra=None):
    """Add ``hook`` to the dict ``hooks`` (an OrderedDict where ``prepend`` puts it first); return its handle."""
    handle = RemovableHandle(hooks, extra_dict=extra)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle
