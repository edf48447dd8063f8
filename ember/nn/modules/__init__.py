"""The layers of ember.nn, one file per family."""
from .module import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .channelshuffle import *  # noqa: F401,F403
from .linear_cross_entropy_options import *  # noqa: F401,F403
from . import batchnorm, instancenorm, pixelshuffle  # noqa: F401,E402  (PyTorch's module paths; utils.py is
# imported on use, so that `from .modules import *` in ember.nn does not shadow ember.nn.utils)
