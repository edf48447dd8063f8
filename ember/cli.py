"""The `ember` command: train, tutorial, info, bench, viz and run. Exit codes: 0 ok, 1 runtime failure, 2 usage."""
import argparse
import sys


class UsageError(Exception):
    """A bad command line (exit code 2)."""


def _parser():
    p = argparse.ArgumentParser(prog='ember', description='ember: PyTorch-style deep learning on NumPy/CuPy')
    sub = p.add_subparsers(dest='command', metavar='COMMAND')

    t = sub.add_parser('train', help='train a model on a dataset and evaluate it')
    t.add_argument('--model', default='mlp', help="mlp, cnn, or FILE.py[:NAME] defining an nn.Module class or a "
                                                  "build_model(input_shape, num_classes) function")
    t.add_argument('--data', default='digits', help='digits (bundled), mnist or fashion-mnist (from --data-dir)')
    t.add_argument('--data-dir', default='data', help='folder holding the MNIST/FashionMNIST IDX files')
    t.add_argument('--epochs', type=int, default=None, help='epochs in total (default 10; on --resume, the saved run\'s)')
    t.add_argument('--batch-size', type=int, default=64)
    t.add_argument('--lr', type=float, default=None, help='learning rate (default depends on the optimizer)')
    t.add_argument('--optimizer', default='adam', help='sgd, adam, adamw, rmsprop or adagrad')
    t.add_argument('--scheduler', default='none', help='none, step, cosine, exponential or onecycle')
    t.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    t.add_argument('--seed', type=int, default=0)
    t.add_argument('--out', default='runs/ember-train', help='output folder for checkpoints, metrics and plots')
    t.add_argument('--resume', default=None, metavar='DIR', help='continue the run saved in DIR')
    t.add_argument('--limit', type=int, default=None, help='use at most this many training samples (quick runs)')
    t.add_argument('--no-progress', action='store_true', help='no progress bars (plain log lines instead)')
    t.add_argument('--distributed', action='store_true', help='train data-parallel over MPI')
    t.add_argument('-n', '--nproc', type=int, default=2, help='processes for --distributed')

    tu = sub.add_parser('tutorial', help='run the tutorial walk-through section by section')
    tu.add_argument('--section', type=int, action='append', help='run only this section (1-6); repeatable')

    sub.add_parser('info', help='versions, BLAS, optional packages and devices')

    b = sub.add_parser('bench', help='run benchmarks/ side by side with PyTorch')
    b.add_argument('names', nargs='*', help='benchmark names (core, nn, cnn, optim, lstm, distributed)')
    b.add_argument('--json', default=None, help='also write the table as JSON here')
    b.add_argument('--markdown', default=None, help='also write the table as Markdown here')

    v = sub.add_parser('viz', help="render the autograd graph of a model's loss (graphviz)")
    v.add_argument('--model', default='mlp')
    v.add_argument('--data', default='digits')
    v.add_argument('--data-dir', default='data')
    v.add_argument('--out', default='graph.svg', help='output file: .svg, .png, .pdf or .dot')

    r = sub.add_parser('run', help='run a script (optionally under MPI with -n)')
    r.add_argument('rest', nargs=argparse.REMAINDER)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == 'run':
        return _run(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
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
    except Exception as e:  # a runtime failure: say what, exit 1
        print(f'ember {args.command}: {type(e).__name__}: {e}', file=sys.stderr)
        return 1


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
    return run_benchmarks(args.names, args.json, args.markdown)


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
