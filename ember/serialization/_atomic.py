"""Writing a file atomically (temporary file, fsync, rename) and cleaning up what crashed saves left."""
import os
import tempfile

import numpy as _np


def _write_array(fh, arr):
    if arr.size:
        fh.write(arr.reshape(-1).view(_np.uint8).data)


def _new_file_mode():
    try:
        with open('/proc/self/status') as st:
            for line in st:
                if line.startswith('Umask:'):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# A save writes <dir>/.<name>.<pid>.<random>.tmp and renames it over <dir>/<name>. The writer holds an exclusive flock
# on it while it exists, so a later save of the same target can tell the leftovers of a crashed save (killed, power
# lost: no handler ran) from a save still in progress in another process, and remove only the former.
try:
    import fcntl as _fcntl
except ImportError:  # Windows: stale files are recognised by their writer's pid alone
    _fcntl = None
_STALE_GRACE_S = 60  # a lockable temporary file of a live process younger than this may be about to be locked
_FOREIGN_STALE_S = 3600  # temporary files without a pid (an older ember) are left alone for this long


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # someone else's process (or a pid this platform cannot ask about): assume alive
    return True


def _remove_stale_temporaries(directory, base):
    """Remove the temporary files crashed saves of ``base`` left in ``directory``: regular files named
    ``.<base>.[<pid>.]<random>.tmp`` that no process holds locked, whose writer is gone (or that are old)."""
    import stat
    import time
    prefix = '.' + base + '.'
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith('.tmp')]
    except OSError:
        return
    for name in names:
        parts = name[len(prefix):-len('.tmp')].split('.')
        pid = int(parts[0]) if len(parts) == 2 and parts[0].isdigit() else None
        if len(parts) > 2 or (len(parts) == 2 and pid is None):
            continue  # not a name a save makes
        full = os.path.join(directory, name)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if _fcntl is not None:
                try:
                    _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                except OSError:
                    continue  # a save in progress holds it
            age = time.time() - st.st_mtime
            if pid is None:
                stale = _fcntl is not None and age > _FOREIGN_STALE_S
            else:
                stale = not _pid_alive(pid) or (_fcntl is not None and age > _STALE_GRACE_S)
            if stale and os.path.samestat(st, os.lstat(full)):
                os.unlink(full)
        except OSError:
            pass
        finally:
            os.close(fd)


def _atomic_write(path, writer):
    """Call ``writer(fh)`` on a temporary file next to ``path``, fsync it, then rename it over ``path``: a crash or
    error midway leaves any previous file at ``path`` as it was. The temporary file is removed on any exception
    (KeyboardInterrupt included); ones left by saves that were killed are removed by the next save of ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = _new_file_mode()
    _remove_stale_temporaries(directory, base)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f'.{base}.{os.getpid()}.', suffix='.tmp', dir=directory)
        with os.fdopen(fd, 'wb') as fh:
            if _fcntl is not None:
                _fcntl.flock(fh.fileno(), _fcntl.LOCK_EX)  # held until the file is closed, after the rename
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
            if _fcntl is None:
                fh.close()  # (Windows cannot rename a file that is open)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
            tmp = None
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
