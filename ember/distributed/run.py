"""`ember run -n N script.py args`: start N ranks of a script under MPI's launcher (mpiexec), here or on many hosts."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading

from . import _job

__all__ = ['main', 'launch', 'mpiexec_command', 'find_mpiexec', 'in_worker']

USAGE = """usage: ember run [-n N] [--hostfile FILE | --hosts H1,H2,...] [--mpiexec PATH] [--mpi-args "ARGS"]
                 [--timeout SECONDS] (script.py | -m module) [args ...]

Start N processes (ranks) of a Python script under MPI's launcher, as `torchrun --nproc-per-node N` would.
Each rank finds its rank and the world size in ember.distributed.init_process_group() (and in the RANK,
WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE environment variables). If any rank fails, all are stopped.

options:
  -n, --nproc, --nproc-per-node N   number of ranks in all (default 1)
  --hostfile FILE, -f FILE          spread the ranks over the machines listed in FILE (MPI hostfile format;
                                    MPICH: `host:slots` per line, Open MPI: `host slots=N` per line)
  --hosts H1,H2,...                 spread the ranks over these machines
  --mpiexec PATH                    the launcher to use (default: the one next to this Python, then PATH;
                                    or set EMBER_MPIEXEC)
  --mpi-args "ARGS"                 extra arguments for mpiexec, e.g. "-bind-to core"
  --timeout SECONDS                 stop every rank after this long (exit code 124)
  -m MODULE                         run a module (python -m MODULE) instead of a script
"""

_MISSING = ("ember run needs an MPI launcher (mpiexec), and none was found next to this Python ({}) or on PATH: "
            "pip install 'ember[distributed]' (installs mpi4py and MPICH's mpiexec), or install an MPI library "
            "and set EMBER_MPIEXEC to its mpiexec")


def in_worker():
    """True inside a rank started by ``ember run`` / ``launch`` (so a CLI does not relaunch itself again)."""
    return os.environ.get('EMBER_DISTRIBUTED_WORKER') == '1'


def find_mpiexec(explicit=None):
    """The path of the MPI launcher: ``explicit``, $EMBER_MPIEXEC, the one next to sys.executable, then PATH."""
    for cand in (explicit, os.environ.get('EMBER_MPIEXEC')):
        if cand:
            path = shutil.which(cand)
            if path is None:
                raise RuntimeError(f'ember run: the MPI launcher {cand!r} was not found')
            return path
    here = os.path.dirname(os.path.abspath(sys.executable))
    for name in ('mpiexec', 'mpirun'):
        path = os.path.join(here, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    for name in ('mpiexec', 'mpirun'):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError(_MISSING.format(here))


_FLAVORS = {}


def _flavor(exe):
    """'openmpi' or 'mpich' (Hydra, also Intel MPI's and MVAPICH's launcher), judged from --version."""
    if exe not in _FLAVORS:
        try:
            out = subprocess.run([exe, '--version'], capture_output=True, text=True, timeout=20)
            text = out.stdout + out.stderr
        except (OSError, subprocess.TimeoutExpired):
            text = ''
        _FLAVORS[exe] = 'openmpi' if ('Open MPI' in text or 'OpenRTE' in text or 'open-mpi' in text) else 'mpich'
    return _FLAVORS[exe]


def _python_args(command):
    """``command`` without its interpreter when it is ``python script.py ...`` or ``python -m module ...``."""
    head = os.path.basename(command[0])
    if len(command) > 1 and (head.startswith('python') or command[0] == sys.executable) and \
            (command[1] == '-m' or command[1].endswith('.py')):
        return list(command[1:])
    return None


def _is_python(command):
    head = command[0]
    if head == '-m' or head.endswith('.py'):
        return True
    try:
        with open(head, 'rb') as f:
            first = f.readline(200)
        return first.startswith(b'#!') and b'python' in first
    except OSError:
        return False


def mpiexec_command(nproc, command, hostfile=None, hosts=None, mpiexec=None, mpi_args=(), python=None, export=()):
    """The argv that starts ``command`` as ``nproc`` ranks. A Python script, ``-m module`` or Python console
    script runs through ember's per-rank wrapper (environment, abort on failure); anything else runs as is.
    ``export``: more environment variables Open MPI must pass to the ranks (MPICH passes them all)."""
    exe = find_mpiexec(mpiexec)
    flavor = _flavor(exe)
    cmd = [exe, '-n', str(int(nproc))]
    if flavor == 'openmpi':
        if hostfile:
            cmd += ['--hostfile', hostfile]
        if hosts:
            cmd += ['--host', hosts]
        if not hostfile and not hosts and nproc > (os.cpu_count() or 1):
            cmd += ['--oversubscribe']
        for var in ('PYTHONPATH', 'OMP_NUM_THREADS', 'PATH', 'LD_LIBRARY_PATH', 'VIRTUAL_ENV'):
            if var in os.environ:
                cmd += ['-x', var]
        names = [k for k in os.environ if k.startswith('EMBER_')]
        cmd += [a for k in names + [k for k in export if k not in names] for a in ('-x', k)]
    else:
        if hostfile:
            cmd += ['-f', hostfile]
        if hosts:
            cmd += ['-hosts', hosts]
    cmd += list(mpi_args)
    command = list(command)
    if not command:
        raise ValueError('ember run: give a script (or -m module) to run')
    interp = _python_args(command)
    if interp is not None and python is not False:
        cmd += [command[0], '-m', 'ember.distributed._worker'] + interp
    elif python or (python is None and _is_python(command)):
        cmd += [sys.executable, '-m', 'ember.distributed._worker'] + command
    else:
        cmd += command
    return cmd


def launch(nproc, command, hostfile=None, hosts=None, mpiexec=None, mpi_args=(), env=None, timeout=None,
           python=None):
    """Run ``command`` (``['train.py', '--lr', '0.1']``, ``['-m', 'pkg.mod', ...]``, the same preceded by a Python
    interpreter, or any program) as ``nproc`` MPI ranks and wait; returns the launcher's exit code (124 after
    ``timeout`` seconds, 130 after Ctrl-C, 143 after SIGTERM). ``env``: extra environment variables for the ranks.
    If this process dies (even by SIGKILL, on Linux), mpiexec and the ranks die with it.

    For a CLI relaunching itself: ``launch(n, ['-m', 'ember', 'train', *args])`` unless ``in_worker()``.
    """
    nproc = int(nproc)
    if nproc < 1:
        raise ValueError(f'ember run: -n must be at least 1, got {nproc}')
    cmd = mpiexec_command(nproc, command, hostfile, hosts, mpiexec, mpi_args, python, export=(_job.ENV,))
    child = dict(os.environ)
    child.update(env or {})
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'EMBER_DISTRIBUTED_WORKER'):
        child.pop(k, None)  # stale values from an enclosing run would mislead the ranks; MPI sets them anew
    if 'OMP_NUM_THREADS' not in child and not hostfile and not hosts:
        child['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1) // nproc))  # one core's share per rank
    job = _job.new_job_dir()
    child[_job.ENV] = job
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()  # ours first, then the ranks' (forwarded below)
        except (AttributeError, OSError, ValueError):
            pass
    try:
        # stdout comes through us: MPICH names a rank that died without a word there by PID only
        proc = subprocess.Popen(cmd, env=child, start_new_session=True, stdout=subprocess.PIPE,
                                preexec_fn=_job.die_with_parent())
    except BaseException:
        _job.finish_job_dir(job)
        raise
    pump = _Pump(proc.stdout)
    on_term = threading.current_thread() is threading.main_thread()
    if on_term:
        prev_term = signal.signal(signal.SIGTERM, _on_sigterm)  # stop the ranks and clean up, then exit 143
    stopped = True  # by us (timeout, Ctrl-C, SIGTERM): then no rank is to blame
    try:
        try:
            code = proc.wait(timeout=timeout)
            stopped = False
            return code
        except subprocess.TimeoutExpired:
            sys.stderr.write(f'ember run: stopping all ranks after the timeout of {timeout} s\n')
            _stop(proc)
            return 124
        except KeyboardInterrupt:
            _stop(proc, signal.SIGINT)
            return 130
        except _Terminated:
            _stop(proc)
            return 128 + signal.SIGTERM
    finally:
        if on_term:
            signal.signal(signal.SIGTERM, prev_term if prev_term is not None else signal.SIG_DFL)
        pump.join(5)
        ranks = _job.read_ranks(job)
        if pump.died is not None and not stopped and proc.returncode:
            sys.stderr.write(_who_died(pump.died, ranks) + '\n')
            sys.stderr.flush()
        _job.finish_job_dir(job)
        _job.sweep_orphans()


class _Terminated(BaseException):
    """SIGTERM reached the launcher."""


def _on_sigterm(signum, frame):
    raise _Terminated()


class _Pump(threading.Thread):
    """Copies mpiexec's stdout to ours as it comes, noting MPICH's report of a process that died (its PID, its
    exit code or signal) so the launcher can name the rank."""
    _BAD = re.compile(rb'PID (\d+) RUNNING AT (\S+)[\s=]*EXIT CODE: (\d+)')
    _SIG = re.compile(rb'EXIT STRING: [^\n]*\(signal (\d+)\)')

    def __init__(self, pipe):
        super().__init__(name='ember-run-stdout', daemon=True)
        self.fd = pipe.fileno()
        self.pipe = pipe
        self.died = None  # [pid, host, exit code, signal or None]
        self.start()

    def run(self):
        carry = b''
        out = 1
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            view = memoryview(chunk)
            while out is not None and view:
                try:
                    view = view[os.write(out, view):]
                except InterruptedError:
                    continue
                except OSError:  # our stdout went away: keep draining so mpiexec never blocks
                    out = None
            text = carry + chunk
            if self.died is None:
                m = self._BAD.search(text)
                if m:
                    self.died = [int(m.group(1)), m.group(2).decode(errors='replace'), int(m.group(3)), None]
            if self.died is not None and self.died[3] is None:
                m = self._SIG.search(text)
                if m:
                    self.died[3] = int(m.group(1))
            carry = text[-512:]
        self.pipe.close()


def _who_died(died, ranks):
    """'ember run: rank 1 (pid 4242) was killed by signal 9 (SIGKILL) ...' from MPICH's report and the ranks' pids."""
    pid, host, code, sig = died
    rank = next((r for r, (p, _) in ranks.items() if p == pid), None)
    if rank is not None:
        who = f'rank {rank} (pid {pid})'
    else:  # ranks on other machines cannot write into our job directory
        who = f'a process (pid {pid} on {host}; its rank is unknown: it ran on another machine or died before MPI ' \
              f'started)'
    if sig is not None:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f'signal {sig}'
        how = f'was killed by signal {sig} ({name})'
        if sig == signal.SIGKILL:
            how += ' (by a user, or by the out-of-memory killer: see dmesg)'
    else:
        how = f'exited with code {code}'
    return f'ember run: {who} {how}; the other ranks were stopped'


def _stop(proc, first=signal.SIGTERM):
    """Stop the launcher and every rank it started (they share its session)."""
    for sig, wait in ((first, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _parse(argv):
    opts = {'nproc': 1, 'hostfile': None, 'hosts': None, 'mpiexec': None, 'mpi_args': [], 'timeout': None}
    argv = list(argv)
    i = 0

    def value(flag):
        nonlocal i
        if '=' in argv[i] and argv[i].startswith('--'):
            return argv[i].split('=', 1)[1]
        if i + 1 >= len(argv):
            raise SystemExit(f'ember run: {flag} needs a value\n\n{USAGE}')
        i += 1
        return argv[i]
    while i < len(argv):
        a = argv[i]
        flag = a.split('=', 1)[0] if a.startswith('--') else a
        if flag in ('-h', '--help'):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if flag in ('-n', '-np', '--nproc', '--nproc-per-node', '--nproc_per_node', '--nprocs'):
            v = value(flag)
            try:
                opts['nproc'] = int(v)
            except ValueError:
                raise SystemExit(f'ember run: {flag} needs a whole number, got {v!r}') from None
        elif flag in ('--hostfile', '-f', '--machinefile'):
            opts['hostfile'] = value(flag)
        elif flag in ('--hosts', '--host', '-H'):
            opts['hosts'] = value(flag)
        elif flag == '--mpiexec':
            opts['mpiexec'] = value(flag)
        elif flag in ('--mpi-args', '--mpi_args'):
            opts['mpi_args'] += shlex.split(value(flag))
        elif flag == '--timeout':
            opts['timeout'] = float(value(flag))
        elif flag == '--standalone':
            pass  # torchrun's single-machine flag: nothing to do
        elif flag == '--':
            return opts, argv[i + 1:]
        elif a == '-m':
            return opts, argv[i:]
        elif a.startswith('-'):
            raise SystemExit(f'ember run: unknown option {a}\n\n{USAGE}')
        else:
            return opts, argv[i:]
        i += 1
    return opts, []


def main(argv=None):
    """The ``ember run`` command: parse ``argv`` (without 'run'), start the ranks, return the exit code."""
    opts, command = _parse(sys.argv[1:] if argv is None else argv)
    if not command or command == ['-m']:
        sys.stderr.write('ember run: give a script (or -m module) to run\n\n' + USAGE)
        return 2
    if command[0] != '-m' and _is_python(command) and not os.path.isfile(command[0]):
        sys.stderr.write(f'ember run: no such script: {command[0]}\n')
        return 2
    try:
        return launch(opts['nproc'], command, opts['hostfile'], opts['hosts'], opts['mpiexec'], opts['mpi_args'],
                      timeout=opts['timeout'])
    except RuntimeError as e:
        sys.stderr.write(f'{e}\n')
        return 1


if __name__ == '__main__':
    sys.exit(main())
