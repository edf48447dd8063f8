"""The job directory `ember run` shares with its ranks: who is who (pids), MPICH's shared memory to clean up, and
tying mpiexec's life to the launcher's."""
import os
import re
import shutil
import signal
import sys
import tempfile
import time

ENV = 'EMBER_RUN_DIR'
_PREFIX = 'ember-run-'
_SHM = '/dev/shm/'
_SEGMENT = re.compile(r'mpich_shm_[0-9A-Za-z_]+')  # MPICH's name for a job's node-local segment


# ---- the rank's side ------------------------------------------------------------------------------------------------
def _own_segments():
    """(path, inode) of MPICH's named shared-memory segments this process has mapped (after MPI_Init)."""
    found = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                if len(parts) == 6 and parts[5].startswith(_SHM) and _SEGMENT.fullmatch(parts[5][len(_SHM):]):
                    found.add((parts[5], int(parts[4])))
    except OSError:  # not Linux: nothing recorded, nothing cleaned
        pass
    return sorted(found)


def record_rank(rank):
    """Tell the launcher (if one started us) this rank's pid and its MPI segments; called once MPI is up."""
    d = os.environ.get(ENV)
    if not d or not os.path.isdir(d):
        return
    lines = [f'pid {os.getpid()}'] + [f'shm {ino} {path}' for path, ino in _own_segments()]
    tmp = os.path.join(d, f'.rank-{rank}.tmp')
    try:
        with open(tmp, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.replace(tmp, os.path.join(d, f'rank-{rank}'))
    except OSError:
        pass


# ---- the launcher's side ------------------------------------------------------------------------------------------
def new_job_dir():
    """A private directory for one job, holding the launcher's pid (so a later launcher can tell it was orphaned)."""
    d = tempfile.mkdtemp(prefix=_PREFIX)
    with open(os.path.join(d, 'launcher'), 'w') as f:
        f.write(f'{os.getpid()}\n')
    return d


def read_ranks(d):
    """{rank: (pid, [(segment path, inode), ...])} from what the ranks recorded in job directory ``d``."""
    ranks = {}
    try:
        names = os.listdir(d)
    except OSError:
        return ranks
    for name in names:
        if not name.startswith('rank-'):
            continue
        try:
            rank = int(name[5:])
            pid, segs = None, []
            with open(os.path.join(d, name)) as f:
                for line in f:
                    kind, _, rest = line.strip().partition(' ')
                    if kind == 'pid':
                        pid = int(rest)
                    elif kind == 'shm':
                        ino, _, path = rest.partition(' ')
                        segs.append((path, int(ino)))
            ranks[rank] = (pid, segs)
        except (OSError, ValueError):
            continue
    return ranks


def _in_use(paths):
    """The subset of ``paths`` some live process still maps or holds open."""
    used = set()
    try:
        pids = [p for p in os.listdir('/proc') if p.isdigit()]
    except OSError:
        return set(paths)  # cannot tell: treat all as in use
    for pid in pids:
        try:
            with open(f'/proc/{pid}/maps') as f:
                text = f.read()
            used.update(p for p in paths if p + '\n' in text)  # a live mapping ends the line with the path
            fds = f'/proc/{pid}/fd'
            for fd in os.listdir(fds):
                try:
                    target = os.readlink(os.path.join(fds, fd))
                except OSError:
                    continue
                if target in paths:
                    used.add(target)
        except OSError:  # gone, or another user's process (which cannot open our 0600 segments anyway)
            continue
        if len(used) == len(paths):
            break
    return used


def remove_segments(segs):
    """Unlink the recorded segments that are still there, are the same files (inode), are ours, and that no live
    process maps or holds open; returns how many are left (in use by a live process)."""
    uid = os.getuid()
    cand = set()
    for path, ino in segs:
        if not (path.startswith(_SHM) and _SEGMENT.fullmatch(path[len(_SHM):])):
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue  # already gone: MPI_Finalize removed it
        if st.st_ino == ino and st.st_uid == uid:
            cand.add(path)
    if not cand:
        return 0
    busy = _in_use(cand)
    for path in sorted(cand - busy):
        try:
            os.unlink(path)
        except OSError:
            pass
    return len(busy)


def _running(pid):
    """Whether process ``pid`` exists and has not ended (a zombie has ended; its mappings are gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def finish_job_dir(d, keep_if_busy=False, grace=3.0):
    """After the job: remove the ranks' leftover segments (a rank that aborted or was killed cannot) and ``d``
    (kept when ``keep_if_busy`` and a segment is still in use, to be finished later). mpiexec can return while a
    killed rank is still exiting and mapping its segment: wait up to ``grace`` seconds for the job's own ranks."""
    ranks = read_ranks(d)
    deadline = time.monotonic() + grace
    while True:
        busy = sum(remove_segments(segs) for _pid, segs in ranks.values())
        if not busy or time.monotonic() > deadline or not any(pid and _running(pid) for pid, _ in ranks.values()):
            break
        time.sleep(0.05)
    if not (busy and keep_if_busy):
        shutil.rmtree(d, ignore_errors=True)


def sweep_orphans():
    """Finish the job directories of launchers that were killed (SIGKILL gives them no chance to clean up)."""
    root = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(_PREFIX)]
    except OSError:
        return
    for name in names:
        d = os.path.join(root, name)
        try:
            if os.stat(d).st_uid != os.getuid():
                continue
            with open(os.path.join(d, 'launcher')) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            continue  # its launcher still runs (or the pid was reused: leave it)
        except ProcessLookupError:
            finish_job_dir(d, keep_if_busy=True, grace=0)
        except (OSError, ValueError):
            continue


# ---- mpiexec dies with the launcher --------------------------------------------------------------------------------
def die_with_parent():
    """A ``preexec_fn`` making the child get SIGKILL when the launcher dies (Linux's PR_SET_PDEATHSIG), or None.

    mpiexec runs in its own session (so stopping it stops every rank), which also shields it from the terminal's
    signals; without this, SIGKILL of the launcher would leave mpiexec and the ranks running. mpiexec's death
    takes its proxies and ranks with it."""
    if not sys.platform.startswith('linux'):
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec():
        prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 == PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the launcher died before the line above took effect
            os.kill(os.getpid(), signal.SIGKILL)
    return preexec
