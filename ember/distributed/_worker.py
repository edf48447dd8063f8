"""What `ember run` starts in each rank: join MPI, set torchrun's variables, run the script, abort all if it fails."""
import os
import runpy
import sys
import traceback

# (python -m has imported the ember.distributed package already, so this costs nothing at start-up)
from . import _job
from .distributed_c10d import _abort_failed


def main(argv):
    if not argv:
        sys.stderr.write('usage: python -m ember.distributed._worker (script.py | -m module) [args ...]\n')
        return 2
    rank, size = 0, 1
    # MPI first, on every rank, before the script runs: then a failure anywhere (even before the script's
    # init_process_group) can abort the whole job at once instead of leaving the other ranks waiting forever
    try:
        from mpi4py import MPI
    except ImportError:
        MPI = None
    if MPI is not None:
        world = MPI.COMM_WORLD
        rank, size = world.Get_rank(), world.Get_size()
        node = world.Split_type(MPI.COMM_TYPE_SHARED, key=rank)
        local_rank, local_size = node.Get_rank(), node.Get_size()
        node.Free()
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(local_rank),
                          LOCAL_WORLD_SIZE=str(local_size))
        _job.record_rank(rank)  # so the launcher can name this rank and clean up after it
    os.environ['EMBER_DISTRIBUTED_WORKER'] = '1'
    try:
        if argv[0] == '-m':
            if len(argv) < 2:
                raise SystemExit('ember run: -m needs a module name')
            sys.argv = [argv[1]] + list(argv[2:])
            runpy.run_module(argv[1], run_name='__main__', alter_sys=True)
        else:
            script = argv[0]
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(script))
            runpy.run_path(script, run_name='__main__')
    except SystemExit as e:
        code = e.code
        if code is None or code == 0:
            return 0
        if not isinstance(code, int):
            sys.stderr.write(f'{code}\n')
            code = 1
        if size > 1:
            _abort_failed(rank, size, f'SystemExit({e.code!r})', code)
        return code
    except BaseException as e:  # noqa: B902 (KeyboardInterrupt too: the others must stop)
        tb = e.__traceback__
        while tb is not None and (tb.tb_frame.f_code.co_filename == __file__
                                  or 'runpy' in tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next  # show the script's frames, not this wrapper's
        traceback.print_exception(type(e), e, tb)
        if size > 1:
            _abort_failed(rank, size, f'{type(e).__name__}: {e}', 1)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
