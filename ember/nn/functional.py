"""ember.nn.functional: the functional form of every layer, gathered from one file per family in nn/_functional/."""
from ._functional.activation import *  # noqa: F401,F403
from ._functional.linear import *  # noqa: F401,F403
from ._functional.loss import *  # noqa: F401,F403
from ._functional.normalization import *  # noqa: F401,F403
from ._functional.dropout import *  # noqa: F401,F403
from ._functional.embedding import *  # noqa: F401,F403
from ._functional.misc import *  # noqa: F401,F403
from ._functional.conv import *  # noqa: F401,F403
from ._functional.attention import *  # noqa: F401,F403
from ._functional.unpool import *  # noqa: F401,F403
from ._functional.grid import *  # noqa: F401,F403
from ._functional.ctc import *  # noqa: F401,F403


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    raise AttributeError(f"module 'ember.nn.functional' has no attribute '{name}' (torch.nn.functional.{name} is not supported by ember)")
