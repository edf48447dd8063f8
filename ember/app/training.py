"""`ember train`: models, data, the training loop, checkpoints, metrics, curves and exact resume."""
import csv
import importlib.util
import inspect
import io
import json
import math
import os
import re
import sys
import time

import ember
from ember import nn
from .training_io import (CHECKPOINT, LEGACY, Progress, StopRequest, fault, holds_run, next_version,
                               remove_stale_temporaries, write_bytes_atomic, write_json_atomic,
                               write_text_atomic)

OPTIMIZERS = {'sgd': 0.05, 'adam': 3e-3, 'adamw': 3e-3, 'rmsprop': 1e-3, 'adagrad': 0.05}
SCHEDULERS = ['none', 'step', 'cosine', 'exponential', 'onecycle']
DATASETS = ['digits', 'mnist', 'fashion-mnist']
MODELS = ['mlp', 'cnn']
FILES = {'checkpoint': CHECKPOINT, 'model': 'model.safetensors', 'best': 'best.safetensors', 'csv': 'metrics.csv',
         'json': 'metrics.json', 'plot': 'curves.png', 'command': 'command.txt', 'config': 'config.json'}
CHECKPOINT_FORMAT = 'ember-train-checkpoint/1'
DEFAULT_ROOT = os.path.join('runs', 'ember-train')


class TrainConfigError(ValueError):
    """A bad choice on the command line: exits with code 2."""


# ---- models ---------------------------------------------------------------------------------------------------

def mlp(input_shape, num_classes):
    n = math.prod(input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(n, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                         nn.Linear(64, num_classes))


def cnn(input_shape, num_classes):
    c, h, w = input_shape
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 64), nn.ReLU(), nn.Linear(64, num_classes))


def build_model(spec, input_shape, num_classes):
    if spec in ('mlp', 'cnn'):
        return {'mlp': mlp, 'cnn': cnn}[spec](input_shape, num_classes)
    path, _, name = spec.partition(':')
    if not path.endswith('.py'):
        raise TrainConfigError(f"unknown model '{spec}'; choose from {', '.join(MODELS)} or give FILE.py[:NAME]")
    if not os.path.isfile(path):
        raise TrainConfigError(f"model file '{path}' does not exist")
    with open(path, encoding='utf-8') as f:
        source = f.read()
    if re.search(r'^\s*(import|from)\s+torch\b', source, re.M):
        # a model file written for PyTorch: `import torch` gives ember, as under `ember run`
        from .runner import install_torch_alias
        install_torch_alias()
    mod_spec = importlib.util.spec_from_file_location('ember_user_model', path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    if name:
        obj = getattr(mod, name, None)
        if obj is None:
            raise TrainConfigError(f"'{path}' has no '{name}'")
    elif hasattr(mod, 'build_model'):
        obj = mod.build_model
    else:
        classes = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, nn.Module)
                   and v.__module__ == mod.__name__]
        if len(classes) != 1:
            raise TrainConfigError(f"'{path}' must define build_model(input_shape, num_classes) or exactly one "
                                   f"nn.Module subclass (found {len(classes)}); or name one with {path}:NAME")
        obj = classes[0]
    # call with (input_shape, num_classes) when the signature takes them, else with no arguments; decided from
    # the signature, so a TypeError raised inside the user's code is never mistaken for a signature mismatch
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return obj(input_shape, num_classes)
    for call_args in ((input_shape, num_classes), ()):
        try:
            sig.bind(*call_args)
        except TypeError:
            continue
        return obj(*call_args)
    raise TrainConfigError(f"'{spec}': {getattr(obj, '__name__', obj)}{sig} must accept (input_shape, "
                           f"num_classes) or no arguments")


# ---- data -----------------------------------------------------------------------------------------------------

def load_data(name, data_dir, limit=None):
    from ember import datasets
    if name == 'digits':
        train, test = datasets.Digits(train=True), datasets.Digits(train=False)
    elif name in ('mnist', 'fashion-mnist'):
        cls = datasets.MNIST if name == 'mnist' else datasets.FashionMNIST
        train, test = cls(data_dir, train=True), cls(data_dir, train=False)
    else:
        raise TrainConfigError(f"unknown dataset '{name}'; choose from {', '.join(DATASETS)}")
    if limit:
        from ember.utils.data import Subset
        train = Subset(train, range(min(limit, len(train))))
        test = Subset(test, range(min(max(limit // 4, 1), len(test))))
    x0, _ = train[0]
    return train, test, tuple(x0.shape), 10


# ---- optimisation ---------------------------------------------------------------------------------------------

def make_optimizer(name, params, lr):
    if name not in OPTIMIZERS:
        raise TrainConfigError(f"unknown optimizer '{name}'; choose from {', '.join(OPTIMIZERS)}")
    lr = OPTIMIZERS[name] if lr is None else lr
    if name == 'sgd':
        return ember.optim.SGD(params, lr=lr, momentum=0.9)
    cls = {'adam': 'Adam', 'adamw': 'AdamW', 'rmsprop': 'RMSprop', 'adagrad': 'Adagrad'}[name]
    return getattr(ember.optim, cls)(params, lr=lr)


def make_scheduler(name, optimizer, epochs, steps_per_epoch):
    S = ember.optim.lr_scheduler
    if name not in SCHEDULERS:
        raise TrainConfigError(f"unknown scheduler '{name}'; choose from {', '.join(SCHEDULERS)}")
    if name == 'none':
        return None
    if name == 'step':
        return S.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.1)
    if name == 'cosine':
        return S.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == 'exponential':
        return S.ExponentialLR(optimizer, gamma=0.9)
    return S.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]['lr'] * 10, epochs=epochs,
                        steps_per_epoch=steps_per_epoch)


# ---- the loop -------------------------------------------------------------------------------------------------

def _device(name):
    if name == 'cpu':
        return ember.device('cpu')
    if not name.startswith('cuda'):
        raise TrainConfigError(f"unknown device '{name}'; choose cpu or cuda[:N]")
    try:
        import cupy
    except ImportError:
        raise RuntimeError("--device cuda needs CuPy: pip install 'ember[cuda]' (a cupy-cuda12x/13x wheel matching "
                           "your CUDA driver)") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise RuntimeError(f'--device cuda: CuPy is installed but no usable GPU/driver was found ({e})') from None
    if n == 0:
        raise RuntimeError('--device cuda: CuPy is installed but sees no GPU')
    return ember.device(name)


def evaluate(model, loader, device, stop=None):
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with ember.no_grad():
        for x, y in loader:
            if stop is not None and stop.requested:
                model.train()
                raise _Stopped
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss_sum += nn.functional.cross_entropy(out, y, reduction='sum').item()
            correct += (out.argmax(1) == y).sum().item()
            total += y.shape[0]
    model.train()
    return loss_sum / max(total, 1), correct / max(total, 1)


DEFAULTS = {'model': 'mlp', 'data': 'digits', 'data_dir': 'data', 'epochs': 10, 'batch_size': 64, 'lr': None,
            'optimizer': 'adam', 'scheduler': 'none', 'device': 'cpu', 'seed': 0, 'limit': None}
# on --resume these must match the saved run (or be left out): changing them would not continue the same run
FIXED_ON_RESUME = ['model', 'data', 'data_dir', 'batch_size', 'lr', 'optimizer', 'scheduler', 'seed', 'limit']
EPOCH_SHAPED = ('step', 'cosine', 'onecycle')  # schedulers whose whole schedule depends on --epochs


def _flag(key):
    return '--' + key.replace('_', '-')


def _resolve_config(args):
    """The run's settings: explicit flags, else (on --resume) the saved run's, else DEFAULTS. Returns (config,
    resume_info) and refuses flags that contradict the run being resumed."""
    given = {k: getattr(args, k, None) for k in DEFAULTS}
    if not args.resume:
        cfg = {k: DEFAULTS[k] if v is None else v for k, v in given.items()}
        cfg['lr'] = OPTIMIZERS.get(cfg['optimizer'], cfg['lr']) if cfg['lr'] is None else cfg['lr']
        return cfg, ''

    if getattr(args, 'out', None) is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
        raise TrainConfigError(f'--out {args.out} conflicts with --resume {args.resume} (a resumed run keeps '
                               f'writing to its own folder)')
    with open(os.path.join(args.resume, FILES['config'])) as f:
        saved = {**DEFAULTS, **json.load(f)}
    if saved['lr'] is None:  # written by an older ember: the optimizer's default was used
        saved['lr'] = OPTIMIZERS.get(saved['optimizer'])
    for k in FIXED_ON_RESUME:
        if given[k] is not None and given[k] != saved[k]:
            raise TrainConfigError(f'{_flag(k)} {given[k]} conflicts with the run in {args.resume}, which was '
                                   f'started with {_flag(k)} {saved[k]}; leave it out to resume that run, or start '
                                   f'a new one with a new --out')
    cfg, note = dict(saved), ''
    if given['device'] is not None:
        cfg['device'] = given['device']  # the same run may continue on another device
    if given['epochs'] is not None and given['epochs'] != saved['epochs']:
        if saved['scheduler'] in EPOCH_SHAPED:
            raise TrainConfigError(f"--epochs {given['epochs']} conflicts with the run in {args.resume}: its "
                                   f"--scheduler {saved['scheduler']} was shaped for --epochs {saved['epochs']}")
        cfg['epochs'] = given['epochs']
        note = f" (--epochs {given['epochs']}; the run was started with --epochs {saved['epochs']})"
    return cfg, note


def _check_resume_dir(d):
    if not os.path.isdir(d):
        raise TrainConfigError(f'--resume {d}: no such folder (expected one written by `ember train`, holding '
                               f'{CHECKPOINT} and {FILES["config"]})')
    has_ckpt = os.path.isfile(os.path.join(d, CHECKPOINT))
    has_legacy = all(os.path.isfile(os.path.join(d, n)) for n in LEGACY)
    if not os.path.isfile(os.path.join(d, FILES['config'])) or not (has_ckpt or has_legacy):
        missing = [n for n in (CHECKPOINT, FILES['config']) if not os.path.isfile(os.path.join(d, n))]
        raise TrainConfigError(f"--resume {d}: expected a folder written by `ember train` holding {CHECKPOINT} "
                               f"(or, from older versions, {' and '.join(LEGACY)}) and {FILES['config']} "
                               f"(missing: {', '.join(missing)})")


def _load_checkpoint(d, device):
    path = os.path.join(d, CHECKPOINT)
    if os.path.isfile(path):
        ck = ember.load(path, map_location=device)
        if not isinstance(ck, dict) or ck.get('format') != CHECKPOINT_FORMAT:
            raise RuntimeError(f'{path} is not an ember train checkpoint (format {CHECKPOINT_FORMAT})')
        return ck
    # two files written by earlier versions (model, then train state): still readable
    state = ember.load(os.path.join(d, LEGACY[1]), map_location=device)
    state['model'] = ember.load(os.path.join(d, LEGACY[0]), map_location=device)
    return state


def model_summary(model, name):
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    nbytes = sum(p.numel() * p.element_size() for p in params)
    size = f'{nbytes / 2**20:.2f} MB' if nbytes >= 2**20 else f'{nbytes / 1024:.1f} KB'
    return f'model: {name} ({type(model).__name__}), {n:,} parameters ({size})'


class _Stopped(Exception):
    """The training loop reached a safe point after Ctrl-C."""


def train(args):
    if getattr(args, 'distributed', False) and 'EMBER_DIST_CHILD' not in os.environ:
        from ember.distributed.run import launch
        argv = list(getattr(args, 'argv', sys.argv[1:]))
        return launch(args.nproc, [sys.executable, '-m', 'ember'] + argv, env={'EMBER_DIST_CHILD': '1'})
    resume = args.resume
    if resume:
        _check_resume_dir(resume)
    cfg, note = _resolve_config(args)
    if cfg['optimizer'] not in OPTIMIZERS:
        raise TrainConfigError(f"unknown optimizer '{cfg['optimizer']}'; choose from {', '.join(OPTIMIZERS)}")
    if cfg['scheduler'] not in SCHEDULERS:
        raise TrainConfigError(f"unknown scheduler '{cfg['scheduler']}'; choose from {', '.join(SCHEDULERS)}")
    if cfg['data'] not in DATASETS:
        raise TrainConfigError(f"unknown dataset '{cfg['data']}'; choose from {', '.join(DATASETS)}")
    if cfg['model'] not in MODELS and not cfg['model'].partition(':')[0].endswith('.py'):
        raise TrainConfigError(f"unknown model '{cfg['model']}'; choose from {', '.join(MODELS)} or give "
                               f"FILE.py[:NAME]")
    if cfg['epochs'] < 1 or cfg['batch_size'] < 1:
        raise TrainConfigError('--epochs and --batch-size must be positive')
    device = _device(cfg['device'])
    dist = _dist_context()
    is_main = not dist or dist[0] == 0
    reserved = None
    if resume:
        out = resume
    elif getattr(args, 'out', None) is not None:
        out = args.out
        if holds_run(out):
            raise TrainConfigError(f'--out {out} already holds a run; continue it with --resume {out}, or choose '
                                   f'another --out (runs are never overwritten)')
    else:
        out = reserved = next_version(DEFAULT_ROOT, reserve=is_main)
    try:
        return _train(args, cfg, note, out, device, dist, is_main)
    finally:
        if reserved and is_main:
            try:
                os.rmdir(reserved)  # only while still empty: a run that failed before its first checkpoint
            except OSError:
                pass


def _train(args, cfg, note, out, device, dist, is_main):
    resume = args.resume
    ember.manual_seed(cfg['seed'])
    train_set, test_set, input_shape, num_classes = load_data(cfg['data'], cfg['data_dir'], cfg['limit'])
    model = build_model(cfg['model'], input_shape, num_classes).to(device)
    target = model
    if dist:
        from ember.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(model)
    optimizer = make_optimizer(cfg['optimizer'], model.parameters(), cfg['lr'])
    loader_gen = ember.Generator()
    from ember.utils.data import DataLoader
    sampler = None
    if dist:
        from ember.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(train_set, num_replicas=dist[1], rank=dist[0], seed=cfg['seed'])
    train_loader = DataLoader(train_set, batch_size=cfg['batch_size'], shuffle=sampler is None, sampler=sampler,
                              generator=loader_gen if sampler is None else None)
    test_loader = DataLoader(test_set, batch_size=256)
    n_batches = len(train_loader)
    scheduler = make_scheduler(cfg['scheduler'], optimizer, cfg['epochs'], n_batches)
    epochs = cfg['epochs']
    # pos: where the run stands; everything the checkpoint needs to continue exactly from here
    pos = {'epoch': 0, 'batch': 0, 'seen': 0, 'loss_sum': 0.0, 'seconds': 0.0}
    metrics, best = [], {'val_accuracy': -1.0, 'epoch': 0}
    if resume:
        remove_stale_temporaries(out)
        ck = _load_checkpoint(out, device)
        target.load_state_dict(ck['model'])
        optimizer.load_state_dict(ck['optimizer'])
        if scheduler is not None and ck.get('scheduler') is not None:
            scheduler.load_state_dict(ck['scheduler'])
        if ck.get('rng') is not None:
            ember.set_rng_state(ck['rng'].cpu())
        for k in pos:
            pos[k] = ck.get(k, pos[k])
        metrics = list(ck.get('metrics') or [])
        best = dict(ck.get('best') or best)
        completed = pos['epoch']
        if epochs < completed or (epochs == completed and pos['batch']):
            raise TrainConfigError(f'--epochs {epochs} is fewer than the {completed + (pos["batch"] > 0)} '
                                   f'epochs the run in {out} has already started')
        if epochs == completed:
            print(f'nothing to do: the run in {out} has completed all {epochs} epochs (pass a larger --epochs to '
                  f'train longer)')
            return 0
        if is_main:
            print(f'resuming {out} at epoch {pos["epoch"] + 1}, batch {pos["batch"]}/{n_batches}{note}')
    writer = _tensorboard(args, out) if is_main else None
    if is_main:
        print(model_summary(target, cfg['model']) + f'; outputs in {out}', flush=True)
    progress = Progress(not getattr(args, 'no_progress', False) and is_main)
    command = ' '.join(['ember'] + [_quote(a) for a in getattr(args, 'argv', sys.argv[1:])]) + '\n'

    def save_checkpoint():
        if not is_main:
            return
        fault('before_checkpoint', pos['epoch'])
        os.makedirs(out, exist_ok=True)  # created by the first checkpoint: a run that fails before has no folder
        if not os.path.exists(os.path.join(out, FILES['config'])):  # --resume needs both files
            write_json_atomic(os.path.join(out, FILES['config']), cfg)
        ember.save({'format': CHECKPOINT_FORMAT, 'model': target.state_dict(), 'optimizer': optimizer.state_dict(),
                    'scheduler': scheduler.state_dict() if scheduler is not None else None,
                    'rng': ember.get_rng_state(), **pos, 'metrics': metrics, 'best': best},
                   os.path.join(out, CHECKPOINT))
        write_json_atomic(os.path.join(out, FILES['config']), cfg)
        write_text_atomic(os.path.join(out, FILES['command']), command)
        fault('after_checkpoint', pos['epoch'])
        # convenience copies of the weights (plain state dicts); the checkpoint above alone is read by --resume
        ember.save(target.state_dict(), os.path.join(out, FILES['model']))
        _write_metrics(out, metrics)

    phase, saved_at = 'compute', None
    try:
        with StopRequest(progress) as stop:
            for epoch in range(pos['epoch'], epochs):
                # each epoch's order comes from (seed, epoch) alone, so a resumed run sees the same batches
                loader_gen.manual_seed(cfg['seed'] * 100003 + epoch)
                if sampler is not None:
                    sampler.set_epoch(epoch)
                t0, seconds_before = time.perf_counter(), pos['seconds']
                if pos['batch'] < n_batches:
                    for batch_idx, (x, y) in enumerate(train_loader):
                        if batch_idx < pos['batch']:
                            continue
                        x, y = x.to(device), y.to(device)
                        loss = nn.functional.cross_entropy(model(x), y)
                        optimizer.zero_grad()
                        loss.backward()
                        phase = 'step'  # from here until the position is updated, an interrupt cannot be saved
                        optimizer.step()
                        if scheduler is not None and cfg['scheduler'] == 'onecycle':
                            scheduler.step()
                        n = y.shape[0]
                        pos['seen'] += n
                        pos['loss_sum'] += loss.item() * n
                        pos['batch'] = batch_idx + 1
                        pos['seconds'] = seconds_before + time.perf_counter() - t0
                        phase = 'compute'
                        fault('after_step', epoch, batch_idx)
                        if _stop_agreed(stop.requested, dist):
                            raise _Stopped
                        progress.update(epoch + 1, epochs, batch_idx + 1, n_batches, pos['loss_sum'] / pos['seen'],
                                        pos['seen'] / max(pos['seconds'], 1e-9))
                fault('validate', epoch)
                val_loss, val_acc = evaluate(model, test_loader, device, stop)
                phase = 'epoch_end'  # the scheduler, metrics and best move on together, saved as one checkpoint
                seconds = seconds_before + time.perf_counter() - t0
                row = {'epoch': epoch + 1, 'train_loss': pos['loss_sum'] / max(pos['seen'], 1),
                       'val_loss': val_loss, 'val_accuracy': val_acc, 'lr': optimizer.param_groups[0]['lr'],
                       'samples_per_s': pos['seen'] / seconds if seconds else 0.0, 'seconds': seconds}
                if scheduler is not None and cfg['scheduler'] != 'onecycle':
                    scheduler.step()
                metrics.append(row)
                improved = is_main and val_acc > best['val_accuracy']
                if improved:
                    best = {'val_accuracy': val_acc, 'epoch': epoch + 1}
                pos.update(epoch=epoch + 1, batch=0, seen=0, loss_sum=0.0, seconds=0.0)
                save_checkpoint()
                if improved:
                    ember.save(target.state_dict(), os.path.join(out, FILES['best']))
                saved_at, phase = dict(pos), 'compute'
                if is_main:
                    progress.line(f"epoch {epoch + 1}/{epochs}  train_loss {row['train_loss']:.4f}  val_loss "
                                  f"{val_loss:.4f}  val_acc {val_acc:.2%}  {row['samples_per_s']:.0f} samples/s")
                    if writer is not None:
                        for k in ('train_loss', 'val_loss', 'val_accuracy', 'lr', 'samples_per_s'):
                            writer.add_scalar(k, row[k], epoch + 1)
                        writer.flush()
                if stop.requested:
                    raise _Stopped
    except (_Stopped, KeyboardInterrupt) as e:
        progress.clear()
        if isinstance(e, _Stopped) or phase == 'compute':
            if saved_at != pos:
                save_checkpoint()
            if dist and isinstance(e, _Stopped):
                import ember.distributed as d
                d.barrier()  # the ranks agreed to stop here: none exits (aborting the job) before rank 0 has saved
            if is_main:
                print(f'interrupted: checkpoint saved in {out} at epoch {pos["epoch"] + 1}, batch {pos["batch"]}/'
                      f'{n_batches} (resume with: ember train --resume {out})', file=sys.stderr)
        elif is_main:
            where = (f'the checkpoint in {out} (end of epoch {saved_at["epoch"]})' if saved_at else
                     f'the last checkpoint in {out}' if resume else 'no checkpoint (nothing was saved)')
            print(f'interrupted during an update: not saved; {where} is intact', file=sys.stderr)
        return 130
    finally:
        if writer is not None:
            writer.close()
    if is_main:
        _plot(out, metrics)
        final = metrics[-1] if metrics else {}
        print(f"test accuracy: {final.get('val_accuracy', float('nan')):.2%}  (best {best['val_accuracy']:.2%} at "
              f"epoch {best['epoch']}; outputs in {out})")
    return 0


def _tensorboard(args, out):
    if not getattr(args, 'tensorboard', False):
        return None
    from ember.utils.tensorboard import SummaryWriter
    return SummaryWriter(os.path.join(out, 'tensorboard'))


def _stop_agreed(requested, dist):
    """Under --distributed every rank must stop after the same batch (or the next collective would hang): a rank
    stops when any rank got Ctrl-C (one tiny all-reduce per batch)."""
    if not dist:
        return requested
    import ember.distributed as d
    flag = ember.tensor([1 if requested else 0])
    d.all_reduce(flag, op=d.ReduceOp.MAX)
    return bool(flag.item())


def _quote(a):
    return a if a and all(c.isalnum() or c in '-_./:=' for c in a) else repr(a)


def _dist_context():
    if 'EMBER_DIST_CHILD' not in os.environ:
        return None
    import ember.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group()
    return dist.get_rank(), dist.get_world_size()


def _write_metrics(out, metrics):
    if not metrics:
        return
    write_json_atomic(os.path.join(out, FILES['json']), metrics)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(metrics[0]))
    w.writeheader()
    w.writerows(metrics)
    write_text_atomic(os.path.join(out, FILES['csv']), buf.getvalue())


def _plot(out, metrics):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print("(curves.png skipped: matplotlib is not installed; pip install 'ember[train]')", file=sys.stderr)
        return
    ep = [m['epoch'] for m in metrics]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [m['train_loss'] for m in metrics], 'o-', label='train')
    a.plot(ep, [m['val_loss'] for m in metrics], 'o-', label='validation')
    a.set_xlabel('epoch')
    a.set_ylabel('cross-entropy loss')
    a.legend()
    b.plot(ep, [100 * m['val_accuracy'] for m in metrics], 'o-', color='tab:green')
    b.set_xlabel('epoch')
    b.set_ylabel('validation accuracy (%)')
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100)
    plt.close(fig)
    write_bytes_atomic(os.path.join(out, FILES['plot']), buf.getvalue())


def build_for_viz(args):
    """One batch's loss and the model's named parameters, for `ember viz`."""
    train_set, _, input_shape, num_classes = load_data(args.data, args.data_dir, limit=64)
    model = build_model(args.model, input_shape, num_classes)
    from ember.utils.data import DataLoader
    x, y = next(iter(DataLoader(train_set, batch_size=16)))
    loss = nn.functional.cross_entropy(model(x), y)
    return loss, dict(model.named_parameters())
