"""SummaryWriter: scalars, scalar groups, histograms and text as TensorBoard event files (torch's API)."""
import os
import socket
import time
from datetime import datetime

import numpy as np

from . import (Event, EventFileWriter, HistogramProto, Summary, SummaryMetadata, TensorProto,
               TensorShapeProto)

__all__ = ['SummaryWriter']


def _array(values):
    """A NumPy array from an ember (or torch) tensor, an array, a list or a number."""
    if hasattr(values, 'detach'):
        values = values.detach()
        values = values.cpu() if hasattr(values, 'cpu') else values
        values = values.numpy()
    return np.asarray(values)


def _scalar(value):
    a = _array(value)
    if a.size != 1:
        raise ValueError(f'scalar value must be a number or a one-element tensor, got shape {tuple(a.shape)}')
    return float(a.reshape(()))


class SummaryWriter:
    """Writes TensorBoard event files to ``log_dir`` (default ``runs/DATE_TIME_HOST{comment}``), as PyTorch's
    ``torch.utils.tensorboard.SummaryWriter``: ``add_scalar``, ``add_scalars``, ``add_histogram``, ``add_text``,
    ``flush``, ``close``; usable as a context manager. View with ``tensorboard --logdir runs``."""

    def __init__(self, log_dir=None, comment='', purge_step=None, max_queue=10, flush_secs=120, filename_suffix=''):
        if not log_dir:
            stamp = datetime.now().strftime('%b%d_%H-%M-%S')
            log_dir = os.path.join('runs', f'{stamp}_{socket.gethostname()}{comment}')
        self.log_dir = str(log_dir)
        self.purge_step = purge_step
        self._max_queue, self._flush_secs, self._suffix = max_queue, flush_secs, filename_suffix
        self._writer = EventFileWriter(self.log_dir, max_queue, flush_secs, filename_suffix)
        self._scalar_writers = {}  # add_scalars: one event file per tag, in a sub-folder (as PyTorch does)

    def get_logdir(self):
        return self.log_dir

    def _add(self, summary, global_step, walltime, writer=None):
        event = Event(summary=summary, wall_time=time.time() if walltime is None else walltime)
        if global_step is not None:
            event.step = int(global_step)
        (writer or self._writer).add_event(event)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        self._add(Summary(value=[Summary.Value(tag=tag, simple_value=_scalar(scalar_value))]), global_step,
                  walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        for tag, value in tag_scalar_dict.items():
            key = f"{main_tag.replace('/', '_')}_{tag}"
            if key not in self._scalar_writers:
                self._scalar_writers[key] = EventFileWriter(os.path.join(self.log_dir, key), self._max_queue,
                                                            self._flush_secs, self._suffix)
            self._add(Summary(value=[Summary.Value(tag=main_tag, simple_value=_scalar(value))]), global_step,
                      walltime, self._scalar_writers[key])

    def add_histogram(self, tag, values, global_step=None, bins='tensorflow', walltime=None, max_bins=None):
        """``bins``: a number of equal-width bins or a NumPy bins name ('tensorflow' is taken as 30 equal bins)."""
        a = _array(values).astype(np.float64).ravel()
        if a.size == 0:
            raise ValueError('The histogram is empty, please file a bug report.')
        n = 30 if bins == 'tensorflow' else bins
        if max_bins is not None and isinstance(n, int):
            n = min(n, max_bins)
        counts, edges = np.histogram(a, bins=n)
        hist = HistogramProto(min=float(a.min()), max=float(a.max()), num=int(a.size), sum=float(a.sum()),
                              sum_squares=float(np.dot(a, a)), bucket_limit=edges[1:].tolist(),
                              bucket=counts.astype(np.float64).tolist())
        self._add(Summary(value=[Summary.Value(tag=tag, histo=hist)]), global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name='text'))
        tensor = TensorProto(dtype='DT_STRING', string_val=[str(text_string).encode('utf-8')],
                             tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
        self._add(Summary(value=[Summary.Value(tag=tag + '/text_summary', metadata=meta, tensor=tensor)]),
                  global_step, walltime)

    def flush(self):
        self._writer.flush()
        for w in self._scalar_writers.values():
            w.flush()

    def close(self):
        self._writer.close()
        for w in self._scalar_writers.values():
            w.close()
        self._scalar_writers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
