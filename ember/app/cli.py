"""The `ember` command: train, tutorial, info, bench, viz and run. Exit codes: 0 ok, 1 runtime failure, 2 usage."""
import argparse
import sys


class UsageError(Exception):
    """A bad command line (exit code 2)."""


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a {"number" if kind is float else "whole number"}, '
                                             f'got {text!r}') from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f'must be positive, got {text}')
        return v
    parse.__name__ = 'positive ' + kind.__name__
    return parse


TRAIN_EXAMPLES = """examples:
  ember train                                   # MLP on the bundled digits -> runs/ember-train/version_N
  ember train --model cnn --epochs 5 --scheduler cosine
  ember train --model mynet.py --optimizer sgd --lr 0.1 --out runs/mynet
  ember train --resume runs/mynet               # continue after Ctrl-C (same weights as an uninterrupted run)
  ember train --resume runs/mynet --epochs 20   # train a finished run longer (scheduler none/exponential)
"""

MAIN_EXAMPLES = """examples:
  ember train --epochs 5        ember tutorial --section 3        ember info
  ember run train.py --lr 0.1   ember bench core                  ember viz --out graph.svg
run `ember COMMAND --help` for a command's options.
"""


def _parser():
    from .. import __version__
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog='ember', description='ember: PyTorch-style deep learning on NumPy/CuPy',
                                epilog=MAIN_EXAMPLES, formatter_class=fmt)
    p.add_argument('--version', action='version', version=f'ember {__version__}')
    sub = p.add_subparsers(dest='command', metavar='COMMAND')

    t = sub.add_parser('train', help='train a model on a dataset and evaluate it', epilog=TRAIN_EXAMPLES,
                       formatter_class=fmt, description='Train a model, writing a checkpoint after every epoch '
                       '(and on Ctrl-C), metrics, curves and the best weights to a run folder.')
    # defaults are None so that --resume can tell a flag given on the command line from the saved run's value
    t.add_argument('--model', help="mlp, cnn, or FILE.py[:NAME] defining an nn.Module class or a "
                                   "build_model(input_shape, num_classes) function; `import torch` works there "
                                   "(default: mlp)")
    t.add_argument('--data', help='digits (bundled), mnist or fashion-mnist (from --data-dir) (default: digits)')
    t.add_argument('--data-dir', help='folder holding the MNIST/FashionMNIST IDX files (default: data)')
    t.add_argument('--epochs', type=_positive(int), help='epochs in total (default: 10; on --resume, the saved '
                                                        "run's)")
    t.add_argument('--batch-size', type=_positive(int), help='(default: 64)')
    t.add_argument('--lr', type=_positive(float), help='learning rate (default: sgd 0.05, adam/adamw 0.003, '
                                                      'rmsprop 0.001, adagrad 0.05)')
    t.add_argument('--optimizer', help='sgd, adam, adamw, rmsprop or adagrad (default: adam)')
    t.add_argument('--scheduler', help='none, step, cosine, exponential or onecycle (default: none)')
    t.add_argument('--device', help='cpu or cuda[:N] (default: cpu)')
    t.add_argument('--seed', type=int, help='(default: 0)')
    t.add_argument('--out', help='run folder for checkpoint, weights, metrics and plots; must not hold a run '
                                 'already (default: the next runs/ember-train/version_N)')
    t.add_argument('--resume', default=None, metavar='DIR', help='continue the run saved in DIR (flags that '
                   'would change it, such as --lr or --optimizer, are refused)')
    t.add_argument('--limit', type=_positive(int), help='use at most this many training samples (quick runs)')
    t.add_argument('--no-progress', action='store_true', help='no progress line (it is shown only on a terminal)')
    t.add_argument('--tensorboard', action='store_true', help='also log the metrics for TensorBoard to '
                   'RUN/tensorboard (needs the tensorboard package: pip install "ember[tensorboard]")')
    t.add_argument('--distributed', action='store_true', help='train data-parallel over MPI')
    t.add_argument('-n', '--nproc', type=_positive(int), default=2, help='processes for --distributed (default: 2)')
    p._subcommands = {'train': t}

    tu = sub.add_parser('tutorial', help='run the tutorial walk-through section by section')
    p._subcommands['tutorial'] = tu
    tu.add_argument('--section', type=int, action='append', help='run only this section (1-6); repeatable')

    p._subcommands['info'] = sub.add_parser('info', help='versions, BLAS, optional packages and devices')

    b = sub.add_parser('bench', help='run benchmarks/ side by side with PyTorch')
    b.add_argument('names', nargs='*', help='benchmark names (core, nn, cnn, optim, lstm, distributed)')
    b.add_argument('--json', default=None, help='also write the table as JSON here')
    b.add_argument('--markdown', default=None, help='also write the table as Markdown here')
    b.add_argument('--args', default='', metavar='"ARGS"', help="the scripts' own argv, e.g. --args \"--iters 5\" "
                   '(read by scripts that take options when imported: cnn; run a script directly for its full '
                   'options)')
    p._subcommands['bench'] = b

    v = sub.add_parser('viz', help="render the autograd graph of a model's loss (graphviz)")
    v.add_argument('--model', default='mlp')
    v.add_argument('--data', default='digits')
    v.add_argument('--data-dir', default='data')
    v.add_argument('--out', default='graph.svg', help='output file: .svg, .png, .pdf or .dot')
    p._subcommands['viz'] = v

    r = sub.add_parser('run', help='run a script (optionally under MPI with -n)')
    r.add_argument('rest', nargs=argparse.REMAINDER)
    return p


def main(argv=None):
    if argv is None:  # run as the `ember` command, which owns its process: tune malloc (see ember/_allocator.py)
        from .. import _allocator
        _allocator.apply()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == 'run':
        return _run(argv[1:])
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # reported by the command's own parser, so the usage shown is that command's
            sub = parser._subcommands.get(args.command, parser)
            sub.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:
        return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    args.argv = argv  # the exact command, recorded by `ember train` in command.txt
    try:
        return {'train': _train, 'tutorial': _tutorial, 'info': _info, 'bench': _bench, 'viz': _viz}[
            args.command](args) or 0
    except UsageError as e:
        print(f'ember {args.command}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    except Exception as e:  # a runtime failure: say what (and where, when user code is involved), exit 1
        user_tb = _user_traceback(e)
        if user_tb:
            print(user_tb, end='', file=sys.stderr)
        print(f'ember {args.command}: {type(e).__name__}: {e}', file=sys.stderr)
        return 1


def _user_traceback(e):
    """The traceback from the first frame of the user's own code (a model file, a script) down, or '' when the
    error arose in ember alone (then its message says what is wrong and the traceback would be noise)."""
    import os
    import sysconfig
    import traceback
    frames = traceback.extract_tb(e.__traceback__)
    ember_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    lib_dirs = {os.path.abspath(sysconfig.get_paths()[k]) + os.sep for k in ('stdlib', 'platstdlib', 'purelib',
                                                                          'platlib')}
    for i, f in enumerate(frames):
        name = os.path.abspath(f.filename)
        if f.filename.startswith('<') or name.startswith(ember_dir) or any(name.startswith(d) for d in lib_dirs):
            continue
        return ''.join(['Traceback (most recent call last):\n'] + traceback.format_list(frames[i:]))
    return ''


def _train(args):
    from .training import train, TrainConfigError
    try:
        return train(args)
    except TrainConfigError as e:
        raise UsageError(str(e)) from None


def _tutorial(args):
    from . import tutorial
    sections = args.section or None
    for s in sections or ():
        if not 1 <= s <= len(tutorial.SECTIONS):
            raise UsageError(f'--section must be between 1 and {len(tutorial.SECTIONS)}, got {s}')
    tutorial.run(sections)


def _info(args):
    from .info import collect, format_info
    print(format_info(collect()))


def _bench(args):
    from .bench import run_benchmarks
    return run_benchmarks(args.names, args.json, args.markdown, args.args)


def _viz(args):
    from .training import build_for_viz, TrainConfigError
    from . import viz
    try:
        loss, params = build_for_viz(args)
    except TrainConfigError as e:
        raise UsageError(str(e)) from None
    dot = viz.make_dot(loss, params=params)
    out = args.out
    fmt = out.rsplit('.', 1)[-1].lower() if '.' in out else 'svg'
    if fmt == 'dot':
        with open(out, 'w') as f:
            f.write(dot.source)
    else:
        if not viz.dot_available():
            raise RuntimeError("rendering needs Graphviz's 'dot' program, which is not on PATH (Debian/Ubuntu: "
                               "apt-get install graphviz; macOS: brew install graphviz); or write the graph source "
                               "with --out graph.dot")
        stem = out[: -(len(fmt) + 1)]
        dot.render(stem, format=fmt, cleanup=True)
    print(f'wrote {out}')


def _run(rest):
    from .runner import main as run_main
    return run_main(rest)


if __name__ == '__main__':
    sys.exit(main())
