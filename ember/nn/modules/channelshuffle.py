"""ember.nn layers: ChannelShuffle (torch.nn.modules.channelshuffle's path)."""
from .. import functional as _F
from .module import Module

__all__ = ['ChannelShuffle']


class ChannelShuffle(Module):
    """Splits the channels of (N, C, *) into ``groups`` groups and interleaves them."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return _F.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f'groups={self.groups}'
