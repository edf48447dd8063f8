"""ember.distributed and DistributedDataParallel: collectives, DDP parity, sampler, launcher and failures."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ember
import ember.distributed as dist
import ember.nn as nn
from ember.distributed import run as dist_run
from ember.nn.parallel import DistributedDataParallel as DDP


@pytest.fixture(autouse=True, scope='module')
def _no_leaked_mpi_segments():
    """`ember run` removes its job's shared-memory segments; ranks started by plain mpiexec and killed by MPI_Abort
    (some failure tests) cannot: remove the ones that appeared during this module and that no live process uses
    (never another running job's), so repeated CI runs do not fill /dev/shm."""
    from ember.distributed import _job
    shm = '/dev/shm'
    before = set(os.listdir(shm)) if os.path.isdir(shm) else set()
    yield
    if os.path.isdir(shm):
        new = [os.path.join(shm, n) for n in set(os.listdir(shm)) - before if n.startswith('mpich_shm_')]
        segs = []
        for path in new:
            try:
                segs.append((path, os.stat(path).st_ino))
            except OSError:
                pass
        _job.remove_segments(segs)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, 'tests', 'dist_scripts')


def _find_mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    try:
        return dist_run.find_mpiexec()
    except RuntimeError:
        return None


MPIEXEC = _find_mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="mpi4py or mpiexec is missing: pip install 'ember[distributed]'")


def _run(cmd, timeout=90):
    """Run ``cmd`` in its own session (so a hang can be killed with every rank); returns (exit code, output)."""
    env = dict(os.environ)
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'EMBER_DISTRIBUTED_WORKER'):
        env.pop(k, None)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         start_new_session=True, cwd=ROOT)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail(f'{" ".join(cmd)} did not end within {timeout} s:\n{out}')
    return p.returncode, out


def mpirun(n, script, *args, timeout=90):
    return _run([MPIEXEC, '-n', str(n), sys.executable, os.path.join(SCRIPTS, script), *args], timeout)


def ember_run(n, script, *args, timeout=90):
    return _run([sys.executable, '-m', 'ember.distributed.run', '-n', str(n), os.path.join(SCRIPTS, script), *args],
                timeout)


def _ok(rc, out, n, what):
    assert rc == 0, out
    for r in range(n):
        assert f'rank {r} OK {what}' in out, out


# ---- under mpiexec ---------------------------------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize('n', [2, 4])
def test_collectives_match_numpy(n):
    _ok(*mpirun(n, 'collectives.py'), n, 'collectives')


@needs_mpi
@pytest.mark.parametrize('n', [2, 4])
def test_ddp_matches_single_process_training(n):
    _ok(*mpirun(n, 'ddp_parity.py'), n, 'ddp')


@needs_mpi
def test_distributed_sampler_covers_dataset_once_per_epoch():
    _ok(*mpirun(2, 'sampler.py'), 2, 'sampler')


@needs_mpi
def test_rank_that_raises_aborts_all():
    rc, out = mpirun(2, 'failures.py', 'raise', timeout=60)
    assert rc != 0
    assert 'ember.distributed: rank 1 failed with RuntimeError: boom from rank 1' in out, out


@needs_mpi
def test_rank_that_skips_a_collective_times_out():
    rc, out = mpirun(2, 'failures.py', 'hang', timeout=60)
    assert rc != 0
    assert 'rank 0: all_reduce did not finish within the timeout' in out, out


@needs_mpi
def test_different_collectives_raise_on_every_rank_naming_each_call():
    # all_reduce vs broadcast / barrier / reduce, object collectives, async, DDP's construction: each rank gets a
    # RuntimeError naming every rank's call and shape (not a hang), and the group works afterwards
    rc, out = ember_run(2, 'mismatch.py', timeout=60)
    _ok(rc, out, 2, 'mismatch')
    assert out.count(' caught ') == 2 * 7, out


@needs_mpi
def test_a_rank_ending_while_another_is_in_a_collective_fails_both():
    rc, out = mpirun(2, 'failures.py', 'extra', timeout=60)
    assert rc != 0
    assert 'rank 0: all_reduce(float32 [3]), rank 1: the end of its script' in out, out
    assert 'ember.distributed: rank 0 failed with RuntimeError' in out, out


@needs_mpi
def test_distributed_checks_off_still_runs_collectives(monkeypatch):
    monkeypatch.setenv('EMBER_DISTRIBUTED_CHECKS', '0')
    _ok(*ember_run(2, 'mismatch.py', 'off', timeout=60), 2, 'checks off')


@needs_mpi
def test_ember_run_sys_exit_and_failure_before_init_abort_all():
    rc, out = ember_run(2, 'failures.py', 'exit', timeout=60)
    assert rc == 3 and 'rank 1 failed with SystemExit(3)' in out, out
    rc, out = ember_run(2, 'failures.py', 'preinit', timeout=60)
    assert rc != 0 and 'rank 1 failed with ValueError: rank 1 failed before init_process_group' in out, out


def _recorded(d, n=2):
    """{rank: (pid, parent pid, [MPI segment paths])} that failures.py's ranks wrote into ``d``; asserts that MPICH
    (whose leak this guards against) mapped a segment, so the leak tests test something."""
    got = {}
    for r in range(n):
        pid, ppid, lib, *segs = (d / f'rank{r}').read_text().split()
        assert segs or lib != 'mpich' or not sys.platform.startswith('linux'), 'MPICH mapped no /dev/shm segment'
        got[r] = (int(pid), int(ppid), segs)
    return got


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'  # a zombie has ended
    except OSError:
        return False


@needs_mpi
def test_ember_run_names_a_rank_killed_by_sigkill_and_removes_its_segments(tmp_path):
    rc, out = ember_run(2, 'failures.py', 'sigkill', str(tmp_path), timeout=60)
    assert rc != 0, out
    ranks = _recorded(tmp_path)
    assert f'ember run: rank 1 (pid {ranks[1][0]}) was killed by signal 9 (SIGKILL)' in out, out
    segs = {s for _, _, ss in ranks.values() for s in ss}
    assert not [s for s in segs if os.path.exists(s)], segs


@needs_mpi
def test_ember_run_abort_leaves_no_shared_memory_segment(tmp_path):
    rc, out = ember_run(2, 'failures.py', 'abort', str(tmp_path), timeout=60)
    assert rc != 0 and 'rank 1 failed with RuntimeError: boom from rank 1' in out, out
    segs = {s for _, _, ss in _recorded(tmp_path).values() for s in ss}
    assert not [s for s in segs if os.path.exists(s)], segs


@needs_mpi
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='parent-death signal and /proc are Linux-only')
@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_launcher_stops_mpiexec_and_every_rank(tmp_path, sig):
    from ember.distributed import _job
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'EMBER_DISTRIBUTED_WORKER'):
        env.pop(k, None)
    launcher = subprocess.Popen([sys.executable, '-m', 'ember.distributed.run', '-n', '2',
                                 os.path.join(SCRIPTS, 'failures.py'), 'wait', str(tmp_path)], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pids = []
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f'rank{r}').exists() for r in range(2)):
            assert launcher.poll() is None and time.monotonic() < deadline, 'the ranks did not start'
            time.sleep(0.1)
        ranks = _recorded(tmp_path)
        proxy = ranks[0][1]
        with open(f'/proc/{proxy}/stat') as f:
            mpiexec = int(f.read().rsplit(')', 1)[1].split()[1])
        pids = [ranks[0][0], ranks[1][0], proxy, mpiexec]
        assert all(_alive(p) for p in pids)
        os.kill(launcher.pid, sig)
        rc = launcher.wait(timeout=20)
        assert rc == (-9 if sig == signal.SIGKILL else 143), rc
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], 'mpiexec or a rank outlived its launcher'
        if sig == signal.SIGKILL:  # it could not clean up: the next launcher finishes its directory and segments
            _job.sweep_orphans()
        segs = {s for _, _, ss in ranks.values() for s in ss}
        assert not [s for s in segs if os.path.exists(s)], segs
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(timeout=10)


@pytest.mark.skipif(not os.path.isdir('/dev/shm') or not os.path.isdir('/proc'), reason='Linux shared memory')
def test_segment_cleanup_removes_only_unused_segments_it_recorded(monkeypatch, tmp_path):
    import mmap
    from ember.distributed import _job
    path = f'/dev/shm/mpich_shm_embertest{os.getpid()}_0'
    other = f'/dev/shm/embertest_not_mpich_{os.getpid()}'
    try:
        for p in (path, other):
            with open(p, 'wb') as f:
                f.write(b'\0' * 4096)
        ino = os.stat(path).st_ino
        with open(path, 'r+b') as f:
            m = mmap.mmap(f.fileno(), 4096)
        try:  # mapped by a live process (this one): kept
            assert _job.remove_segments([(path, ino)]) == 1 and os.path.exists(path)
        finally:
            m.close()
        _job.remove_segments([(path, ino + 1), (other, os.stat(other).st_ino)])  # another file, another name
        assert os.path.exists(path) and os.path.exists(other)
        # a job directory whose launcher still lives is left alone; one whose launcher died is finished
        monkeypatch.setattr(_job.tempfile, 'tempdir', str(tmp_path))
        dead = subprocess.Popen([sys.executable, '-c', 'pass'])
        dead.wait(timeout=30)
        for name, pid in (('ember-run-live', os.getpid()), ('ember-run-dead', dead.pid)):
            (tmp_path / name).mkdir()
            (tmp_path / name / 'launcher').write_text(f'{pid}\n')
            (tmp_path / name / 'rank-0').write_text(f'pid 1\nshm {ino} {path}\n')
        _job.sweep_orphans()
        assert (tmp_path / 'ember-run-live').exists() and not (tmp_path / 'ember-run-dead').exists()
        assert not os.path.exists(path)
    finally:
        for p in (path, other):
            if os.path.exists(p):
                os.unlink(p)


@needs_mpi
def test_ember_run_passes_args_and_environment(tmp_path):
    script = tmp_path / 'show.py'
    script.write_text('import os, sys\nimport ember.distributed as dist\ndist.init_process_group()\n'
                      'line = " ".join(map(str, ["rank", dist.get_rank(), os.environ["RANK"], '
                      'os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"], sys.argv[1:]]))\n'
                      'sys.stdout.write(line + "\\n")\nsys.stdout.flush()\n')
    rc, out = _run([sys.executable, '-m', 'ember.distributed.run', '-n', '2', str(script), '--lr', '0.1'])
    assert rc == 0, out
    for r in range(2):
        assert f"rank {r} {r} 2 {r} ['--lr', '0.1']" in out, out


# ---- in this process (world size 1, no launcher) -----------------------------------------------------------------
@pytest.fixture
def world1():
    dist.init_process_group()
    yield
    dist.destroy_process_group()


def test_single_process_group_is_identity(world1):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == 'mpi'
    t = ember.tensor([1.0, 2.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    dist.broadcast(t, src=0)
    assert dist.all_reduce(t, async_op=True).wait()
    out = [ember.zeros(2)]
    dist.all_gather(out, t)
    np.testing.assert_array_equal(out[0].numpy(), [1.0, 2.0])
    big = ember.zeros(1, 2)
    dist.all_gather_into_tensor(big, t)
    np.testing.assert_array_equal(big.numpy(), [[1.0, 2.0]])
    dist.reduce_scatter_tensor(out[0], t)
    dist.barrier()
    with pytest.raises(RuntimeError, match='twice'):
        dist.init_process_group()
    with pytest.raises(TypeError, match='ember Tensor'):
        dist.all_reduce(np.ones(2))


def test_gather_and_scatter_check_their_lists_alike(world1):
    t = ember.ones(2, 3)
    for fn, arg in ((dist.gather, 'gather_list'), (dist.scatter, 'scatter_list')):
        name = fn.__name__
        with pytest.raises(RuntimeError, match=rf'{name}\(\): {arg} has 2 tensors; it needs one per rank \(1\)'):
            fn(t, [ember.zeros(6), ember.zeros(6)])
        with pytest.raises(RuntimeError, match=rf'{name}: {arg}\[0\] is \[5\] but tensor is \[2, 3\]'):
            fn(t, [ember.zeros(5)])
        with pytest.raises(RuntimeError, match='same dtype'):
            fn(t, [ember.zeros(6, dtype=ember.int64)])
        with pytest.raises(TypeError, match='must be a list of tensors'):
            fn(t, ember.zeros(6))
        out = [ember.zeros(3, 2)]
        fn(ember.arange(6.).reshape(2, 3), out) if name == 'gather' else fn(out[0], [ember.arange(6.)])
        np.testing.assert_array_equal(out[0].numpy().ravel(), np.arange(6.))


def test_not_initialized_and_bad_arguments():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match='not been initialized'):
        dist.get_rank()
    with pytest.raises(RuntimeError, match='ember run -n 2'):
        dist.init_process_group(world_size=2)
    with pytest.raises(ValueError, match="'mpi'"):
        dist.init_process_group(backend='ucc')
    assert not dist.is_initialized()


def test_gloo_is_an_alias_of_mpi():
    dist.init_process_group('gloo', init_method='env://', world_size=1, rank=0)
    try:
        assert dist.get_backend() == 'gloo'
        t = ember.ones(3)
        dist.all_reduce(t)
        np.testing.assert_array_equal(t.numpy(), np.ones(3))
    finally:
        dist.destroy_process_group()


def test_ddp_single_process(world1):
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    ddp = DDP(m)
    assert ddp.module is m
    assert list(ddp.state_dict()) == ['module.' + k for k in m.state_dict()]
    x = ember.randn(5, 3)
    ddp(x).sum().backward()
    got = [p.grad.numpy().copy() for p in m.parameters()]
    for p in m.parameters():
        p.grad = None
    m(x).sum().backward()
    for g, p in zip(got, m.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy())
    with ddp.no_sync():
        ddp(x).sum().backward()


def test_post_accumulate_grad_hook_and_queue_callback():
    from ember.autograd.engine import queue_callback
    w = ember.ones(3, requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    w.register_hook(lambda g: queue_callback(lambda: seen.append('end')))
    ((w * 2).sum() + (w * 3).sum()).backward()
    # once per delivered contribution, after it was accumulated (the last sees the total); callbacks at the end
    assert seen[1].tolist() == [5.0, 5.0, 5.0] and seen[0].tolist() in ([2.0] * 3, [3.0] * 3)
    assert seen[2:] == ['end', 'end']
    with pytest.raises(RuntimeError, match='backward pass'):
        queue_callback(lambda: None)
    with pytest.raises(RuntimeError, match='non-leaf'):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)


# ---- the launcher ---------------------------------------------------------------------------------------------------
def test_launcher_parses_torchrun_style_arguments():
    opts, cmd = dist_run._parse(['-n', '4', 'train.py', '--lr', '0.1', '-n', '7'])
    assert opts['nproc'] == 4 and cmd == ['train.py', '--lr', '0.1', '-n', '7']
    opts, cmd = dist_run._parse(['--nproc-per-node=2', '--hostfile', 'hosts', '-m', 'pkg.train', '-x'])
    assert opts['nproc'] == 2 and opts['hostfile'] == 'hosts' and cmd == ['-m', 'pkg.train', '-x']
    with pytest.raises(SystemExit):
        dist_run._parse(['--bogus', 'train.py'])
    assert dist_run.main(['-n', '2']) == 2


def test_launcher_names_the_rank_mpich_reports_by_pid():
    ranks = {0: (4241, []), 1: (4242, [])}
    assert dist_run._who_died([4242, 'vm', 9, 9], ranks).startswith(
        'ember run: rank 1 (pid 4242) was killed by signal 9 (SIGKILL)')
    assert dist_run._who_died([4241, 'vm', 3, None], ranks).startswith('ember run: rank 0 (pid 4241) exited with code 3')
    assert 'pid 7 on h2; its rank is unknown' in dist_run._who_died([7, 'h2', 11, 11], ranks)
    assert 'signal 11 (SIGSEGV)' in dist_run._who_died([7, 'h2', 11, 11], ranks)


def test_launcher_without_mpiexec_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv('EMBER_MPIEXEC', raising=False)
    monkeypatch.setattr(sys, 'executable', str(tmp_path / 'python'))
    monkeypatch.setattr(dist_run.shutil, 'which', lambda name: None)
    with pytest.raises(RuntimeError, match=r"pip install 'ember\[distributed\]'"):
        dist_run.find_mpiexec()
    script = tmp_path / 't.py'
    script.write_text('pass\n')
    assert dist_run.main(['-n', '2', str(script)]) == 1


@needs_mpi
def test_mpiexec_command_wraps_python_scripts():
    cmd = dist_run.mpiexec_command(2, ['train.py', '--x'], hostfile='hosts')
    assert cmd[1:3] == ['-n', '2'] and 'hosts' in cmd
    assert cmd[-4:] == ['-m', 'ember.distributed._worker', 'train.py', '--x']
    assert dist_run.mpiexec_command(2, ['hostname'])[-1] == 'hostname'
    cmd = dist_run.mpiexec_command(2, [sys.executable, '-m', 'ember', 'train'])  # an interpreter in front
    assert cmd[-6:] == [sys.executable, '-m', 'ember.distributed._worker', '-m', 'ember', 'train']
