"""ember.utils.tensorboard: torch.utils.tensorboard's SummaryWriter, writing event files with the tensorboard package."""
try:
    from tensorboard.compat.proto.event_pb2 import Event  # noqa: F401
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata  # noqa: F401
    from tensorboard.compat.proto.tensor_pb2 import TensorProto  # noqa: F401
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto  # noqa: F401
    from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: F401
except ImportError as e:
    raise ImportError("ember.utils.tensorboard (torch.utils.tensorboard) needs the tensorboard package, an optional "
                      "dependency: pip install 'ember[tensorboard]'") from e

from .writer import SummaryWriter  # noqa: E402,F401

__all__ = ['SummaryWriter']
