"""`ember train`'s files and terminal: atomic writes, run folders, checkpoints, Ctrl-C handling, progress display."""
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

CHECKPOINT = 'checkpoint.safetensors'  # the resume unit: model, optimizer, scheduler, position, metrics in ONE file
LEGACY = ('model.safetensors', 'train_state.safetensors')  # the two-file checkpoints of earlier ember versions
RUN_MARKERS = (CHECKPOINT, 'config.json') + LEGACY


def write_text_atomic(path, text):
    write_bytes_atomic(path, text.encode('utf-8'))


def write_bytes_atomic(path, data):
    """Write ``data`` to a temporary file beside ``path``, fsync, rename over ``path``: readers see old or new."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=d)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=2) + '\n')


def remove_stale_temporaries(folder):
    """Temporary files left by a process killed mid-write (never the files they were replacing)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for n in names:
        if n.startswith('.') and n.endswith('.tmp'):
            try:
                os.unlink(os.path.join(folder, n))
            except OSError:
                pass


def holds_run(folder):
    return os.path.isdir(folder) and any(os.path.exists(os.path.join(folder, m)) for m in RUN_MARKERS)


def next_version(root, reserve=False):
    """``root/version_N`` with N one past the highest existing (Lightning's numbering): runs never overwrite.
    ``reserve``: create it (empty), so that two runs started together cannot pick the same folder."""
    while True:
        taken = []
        if os.path.isdir(root):
            for n in os.listdir(root):
                if n.startswith('version_') and n[8:].isdigit():
                    taken.append(int(n[8:]))
        path = os.path.join(root, f'version_{max(taken) + 1 if taken else 0}')
        if not reserve:
            return path
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            continue


# ---- deterministic fault injection for the tests: EMBER_TRAIN_FAULT="ACTION@POINT:EPOCH[:BATCH]" -------------
# ACTION: sigint (a real SIGINT to this process), kill (os._exit(137), like SIGKILL); POINT: after_step,
# validate, before_checkpoint, after_checkpoint. EPOCH and BATCH are 0-based. EMBER_TRAIN_FAULT_RANK=R: rank R only.

def fault(point, epoch, batch=None):
    spec = os.environ.get('EMBER_TRAIN_FAULT')
    if not spec:
        return
    action, _, rest = spec.partition('@')
    name, *at = rest.split(':')
    where = (epoch,) if batch is None else (epoch, batch)
    if name != point or tuple(int(w) for w in at) != where[:len(at)]:
        return
    only = os.environ.get('EMBER_TRAIN_FAULT_RANK')  # under --distributed: fault one rank only
    if only is not None and os.environ.get('RANK', os.environ.get('PMI_RANK')) != only:
        return
    if action == 'kill':
        os._exit(137)
    if action == 'sigint':
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs at the next bytecode boundary of the main thread


class StopRequest:
    """Ctrl-C asks the training loop to stop at the next safe point (after the current batch's update), where the
    checkpoint is consistent. A second Ctrl-C raises KeyboardInterrupt at once (the last checkpoint stays)."""

    def __init__(self, progress):
        self.requested = False
        self.progress = progress
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.progress.clear()
        self.progress.enabled = False
        print('\nCtrl-C: stopping after the current step to save a checkpoint (Ctrl-C again: stop without saving)',
              file=sys.stderr, flush=True)


class Progress:
    """One redrawn status line per epoch on a terminal, replaced by the epoch's summary line; on other outputs
    (files, pipes) only the summary lines. Never wider than the terminal."""

    def __init__(self, enabled, stream=None):
        self.stream = stream or sys.stdout
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.enabled = enabled and tty
        self.drawn = False
        self._last = 0.0

    def update(self, epoch, epochs, done, total, loss, rate, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and done < total:
            return
        self._last = now
        cols = max(shutil.get_terminal_size((80, 24)).columns, 20)
        head = f'epoch {epoch}/{epochs} '
        tail = f' {done}/{total} loss {loss:.4f} {rate:.0f}/s'
        width = min(30, cols - 1 - len(head) - len(tail) - 2)
        bar = ''
        if width >= 5:
            fill = int(width * done / max(total, 1))
            bar = '[' + '#' * fill + '.' * (width - fill) + ']'
        text = (head + bar + tail)[:cols - 1]
        self.stream.write('\r' + text + '\033[K')
        self.stream.flush()
        self.drawn = True

    def clear(self):
        if self.drawn:
            self.stream.write('\r\033[K')
            self.stream.flush()
            self.drawn = False

    def line(self, text):
        self.clear()
        print(text, file=self.stream, flush=True)
