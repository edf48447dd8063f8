"""The base of the learning-rate schedulers: stepping, the epoch warning, and state dicts written once."""
import types
import warnings

from .optimizer import Optimizer

EPOCH_DEPRECATION_WARNING = (
    'The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible. Please '
    'use `scheduler.step()` to step the scheduler. During the deprecation, if epoch is different from None, the '
    'closed form is used instead of the new chainable form, where available. Please open an issue if you are '
    'unable to replicate your use case: https://github.com/pytorch/pytorch/issues/new/choose.')


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f'{type(optimizer).__name__} is not an Optimizer')


def _format_param(name, optimizer, param):
    """One value per param group: a list or tuple must have one per group, a single value is repeated."""
    if isinstance(param, (list, tuple)):
        if len(param) != len(optimizer.param_groups):
            raise ValueError(f'{name} must have the same length as optimizer.param_groups. {name} has '
                             f'{len(param)} values, param_groups has {len(optimizer.param_groups)}.')
        return list(param)
    return [param] * len(optimizer.param_groups)


class _GetLrInStep:
    """Marks get_lr() calls made by step() itself, so only user calls are warned about."""

    def __init__(self, sched):
        self.sched = sched

    def __enter__(self):
        self.sched._get_lr_called_within_step = True
        return self

    def __exit__(self, *exc):
        self.sched._get_lr_called_within_step = False


def _save_callable(fn):
    """A user function is not saved (None); a callable object is saved as its ``__dict__``."""
    return None if fn is None or isinstance(fn, types.FunctionType) else fn.__dict__.copy()


def _load_callable(fn, saved):
    if saved is not None:
        fn.__dict__.update(saved)


def _load_each(items, saved, load):
    for item, s in zip(items, saved):
        load(item, s)


# how attributes with a saved form of their own are saved and loaded back (into the live attribute)
_STATE_FORMS = {
    'callable': (_save_callable, _load_callable),
    'callables': (lambda fns: [_save_callable(f) for f in fns],
                  lambda fns, saved: _load_each(fns, saved, _load_callable)),
    'schedulers': (lambda scheds: [s.state_dict() for s in scheds],
                   lambda scheds, saved: _load_each(scheds, saved, lambda s, sd: s.load_state_dict(sd))),
}


class LRScheduler:
    """Base of the schedulers: on construction records each group's ``initial_lr`` (``base_lrs``) and takes the
    first step (epoch 0); each ``step()`` advances ``last_epoch`` and writes ``get_lr()`` into the groups."""
    _get_lr_called_within_step = False
    _unsaved = ('optimizer',)   # attributes left out of state_dict()
    _state_forms = {}           # attribute -> a form of _STATE_FORMS: saved after the plain attributes


    def __init__(self, optimizer, last_epoch=-1, verbose='deprecated'):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault('initial_lr', group['lr'])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if 'initial_lr' not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming an "
                                   f'optimizer')
        self.base_lrs = [group['initial_lr'] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()  # verbose is accepted for compatibility and ignored

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def state_dict(self):
        """Everything but the optimizer: ``last_epoch``, ``base_lrs``, ``_last_lr`` and the options; functions
        as their ``__dict__`` when they are callable objects (else None), inner schedulers as their state dicts."""
        forms = self._state_forms
        state = {k: v for k, v in self.__dict__.items() if k not in self._unsaved and k not in forms}
        for name, form in forms.items():
            state[name] = _STATE_FORMS[form][0](getattr(self, name))
        return state

    def load_state_dict(self, state_dict):
        """Take back what state_dict() returned (functions and inner schedulers are updated in place)."""
        state_dict = dict(state_dict)
        saved = {name: state_dict.pop(name) for name in self._state_forms if name in state_dict}
        self.__dict__.update(state_dict)
        for name, value in saved.items():
            _STATE_FORMS[self._state_forms[name]][1](getattr(self, name), value)
        self._loaded()

    def _loaded(self):
        """Rebuild what is derived from the loaded attributes."""

    def get_last_lr(self):
        """The learning rates the last step() set, one per param group."""
        return self._last_lr

    def get_lr(self):
        raise NotImplementedError

    def print_lr(self, is_verbose, group, lr, epoch=None):
        if is_verbose:
            print(f'Adjusting learning rate of group {group} to {lr:.4e}.')

    def step(self, epoch=None):
        """Advance one epoch (or jump to ``epoch``, deprecated) and set the groups' learning rates."""
        self._step_count += 1
        if self._step_count == 2 and not getattr(self.optimizer, '_opt_called', False):
            warnings.warn('Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and '
                          'later, you should call them in the opposite order: `optimizer.step()` before '
                          '`lr_scheduler.step()`.  Failure to do this will result in PyTorch skipping the first '
                          'value of the learning rate schedule. See more details at '
                          'https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate', UserWarning)
        with _GetLrInStep(self):
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning)
                self.last_epoch = epoch
                if hasattr(self, '_get_closed_form_lr'):
                    values = self._get_closed_form_lr()
                else:
                    values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group['lr'] = lr
        self._last_lr = [group['lr'] for group in self.optimizer.param_groups]

    def _warn_get_lr(self):
        if not self._get_lr_called_within_step:
            warnings.warn('To get the last learning rate computed by the scheduler, please use `get_last_lr()`.',
                          UserWarning)


_LRScheduler = LRScheduler
