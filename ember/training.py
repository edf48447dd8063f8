"""`ember train`: models, data, the training loop with progress bars, checkpoints, metrics, curves and resume."""
import csv
import importlib.util
import json
import math
import os
import sys
import time

import ember
from ember import nn

OPTIMIZERS = {'sgd': 0.05, 'adam': 3e-3, 'adamw': 3e-3, 'rmsprop': 1e-3, 'adagrad': 0.05}
SCHEDULERS = ['none', 'step', 'cosine', 'exponential', 'onecycle']
DATASETS = ['digits', 'mnist', 'fashion-mnist']
MODELS = ['mlp', 'cnn']
FILES = {'model': 'model.safetensors', 'state': 'train_state.safetensors', 'csv': 'metrics.csv',
         'json': 'metrics.json', 'plot': 'curves.png', 'command': 'command.txt', 'config': 'config.json'}


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
    if isinstance(obj, type):
        try:
            return obj(input_shape, num_classes)
        except TypeError:
            return obj()
    return obj(input_shape, num_classes)


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


def evaluate(model, loader, device):
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with ember.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss_sum += nn.functional.cross_entropy(out, y, reduction='sum').item()
            correct += (out.argmax(1) == y).sum().item()
            total += y.shape[0]
    model.train()
    return loss_sum / max(total, 1), correct / max(total, 1)


class _Bar:
    """tqdm when present and wanted, else plain lines."""

    def __init__(self, total, desc, enabled):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc=desc, unit='batch', leave=True, dynamic_ncols=True)
            except ImportError:
                pass

    def update(self, **postfix):
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def close(self, **postfix):
        if self.bar is not None:
            self.bar.set_postfix(postfix)
            self.bar.close()


def _config(args):
    keys = ['model', 'data', 'data_dir', 'epochs', 'batch_size', 'lr', 'optimizer', 'scheduler', 'device', 'seed',
            'limit']
    return {k: getattr(args, k) for k in keys}


def _check_resume_dir(d):
    missing = [FILES[k] for k in ('model', 'state', 'config') if not os.path.isfile(os.path.join(d, FILES[k]))]
    if not os.path.isdir(d) or missing:
        raise TrainConfigError(f"--resume {d}: expected a folder written by `ember train --out` holding "
                               f"{FILES['model']}, {FILES['state']} and {FILES['config']}"
                               + (f" (missing: {', '.join(missing)})" if os.path.isdir(d) else ' (no such folder)'))


def train(args):
    if getattr(args, 'distributed', False) and 'EMBER_DIST_CHILD' not in os.environ:
        from ember.distributed.run import launch
        argv = list(getattr(args, 'argv', sys.argv[1:]))
        return launch(args.nproc, [sys.executable, '-m', 'ember'] + argv, env={'EMBER_DIST_CHILD': '1'})
    resume = args.resume
    if resume:
        _check_resume_dir(resume)
        with open(os.path.join(resume, FILES['config'])) as f:
            saved = json.load(f)
        for k, v in saved.items():
            if k != 'epochs' or args.epochs is None:
                setattr(args, k, v)
        args.out = resume
    if args.epochs is None:
        args.epochs = 10
    if args.optimizer not in OPTIMIZERS:
        raise TrainConfigError(f"unknown optimizer '{args.optimizer}'; choose from {', '.join(OPTIMIZERS)}")
    if args.scheduler not in SCHEDULERS:
        raise TrainConfigError(f"unknown scheduler '{args.scheduler}'; choose from {', '.join(SCHEDULERS)}")
    if args.data not in DATASETS:
        raise TrainConfigError(f"unknown dataset '{args.data}'; choose from {', '.join(DATASETS)}")
    if args.model not in MODELS and not args.model.partition(':')[0].endswith('.py'):
        raise TrainConfigError(f"unknown model '{args.model}'; choose from {', '.join(MODELS)} or give FILE.py[:NAME]")
    if args.epochs < 1 or args.batch_size < 1:
        raise TrainConfigError('--epochs and --batch-size must be positive')
    device = _device(args.device)
    dist = _dist_context()
    ember.manual_seed(args.seed)
    train_set, test_set, input_shape, num_classes = load_data(args.data, args.data_dir, args.limit)
    model = build_model(args.model, input_shape, num_classes).to(device)
    if dist:
        from ember.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(model)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr)
    loader_gen = ember.Generator()
    from ember.utils.data import DataLoader
    sampler = None
    if dist:
        from ember.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(train_set, num_replicas=dist[1], rank=dist[0], seed=args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler,
                              generator=loader_gen if sampler is None else None)
    test_loader = DataLoader(test_set, batch_size=256)
    scheduler = make_scheduler(args.scheduler, optimizer, args.epochs, len(train_loader))
    metrics, start_epoch, start_batch = [], 0, 0
    if resume:
        model_state = ember.load(os.path.join(resume, FILES['model']), map_location=device)
        model.load_state_dict(model_state)
        state = ember.load(os.path.join(resume, FILES['state']), map_location=device)
        optimizer.load_state_dict(state['optimizer'])
        if scheduler is not None and state.get('scheduler') is not None:
            scheduler.load_state_dict(state['scheduler'])
        start_epoch, start_batch = state['epoch'], state['batch']
        metrics = state['metrics']
    is_main = not dist or dist[0] == 0
    out = args.out
    if is_main:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, FILES['command']), 'w') as f:
            f.write(' '.join(['ember'] + [_quote(a) for a in getattr(args, 'argv', sys.argv[1:])]) + '\n')
        with open(os.path.join(out, FILES['config']), 'w') as f:
            json.dump(_config(args), f, indent=2)

    def checkpoint(epoch, batch):
        if not is_main:
            return
        target = model.module if dist else model
        ember.save(target.state_dict(), os.path.join(out, FILES['model']))
        ember.save({'optimizer': optimizer.state_dict(),
                    'scheduler': scheduler.state_dict() if scheduler is not None else None,
                    'epoch': epoch, 'batch': batch, 'metrics': metrics}, os.path.join(out, FILES['state']))

    progress = not args.no_progress and is_main
    epoch, batch_idx = start_epoch, start_batch
    try:
        for epoch in range(start_epoch, args.epochs):
            # each epoch's order comes from (seed, epoch) alone, so a resumed run sees the same batches
            loader_gen.manual_seed(args.seed * 100003 + epoch)
            if sampler is not None:
                sampler.set_epoch(epoch)
            bar = _Bar(len(train_loader), f'epoch {epoch + 1}/{args.epochs}', progress)
            seen, loss_sum, t0 = 0, 0.0, time.perf_counter()
            skip = start_batch if epoch == start_epoch else 0
            for batch_idx, (x, y) in enumerate(train_loader):
                if batch_idx < skip:
                    continue
                x, y = x.to(device), y.to(device)
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if scheduler is not None and args.scheduler == 'onecycle':
                    scheduler.step()
                n = y.shape[0]
                seen += n
                loss_sum += loss.item() * n
                bar.update(loss=f'{loss_sum / seen:.4f}', rate=f'{seen / (time.perf_counter() - t0):.0f}/s')
            batch_idx = len(train_loader)
            if scheduler is not None and args.scheduler != 'onecycle':
                scheduler.step()
            val_loss, val_acc = evaluate(model, test_loader, device)
            elapsed = time.perf_counter() - t0
            row = {'epoch': epoch + 1, 'train_loss': loss_sum / max(seen, 1), 'val_loss': val_loss,
                   'val_accuracy': val_acc, 'lr': optimizer.param_groups[0]['lr'],
                   'samples_per_s': seen / elapsed if elapsed else 0.0, 'seconds': elapsed}
            metrics.append(row)
            bar.close(loss=f"{row['train_loss']:.4f}", val_loss=f'{val_loss:.4f}', val_acc=f'{val_acc:.2%}')
            if is_main:
                print(f"epoch {epoch + 1}: train_loss {row['train_loss']:.4f}  val_loss {val_loss:.4f}  "
                      f"val_acc {val_acc:.2%}  {row['samples_per_s']:.0f} samples/s", flush=True)
            checkpoint(epoch + 1, 0)
            _write_metrics(out, metrics, is_main)
    except KeyboardInterrupt:
        checkpoint(epoch, batch_idx)
        if is_main:
            print(f'\ninterrupted: checkpoint saved in {out} (resume with: ember train --resume {out})',
                  file=sys.stderr)
        return 130
    if is_main:
        _plot(out, metrics)
        final = metrics[-1] if metrics else {}
        print(f"test accuracy: {final.get('val_accuracy', float('nan')):.2%}  (outputs in {out})")
    return 0


def _quote(a):
    return a if a and all(c.isalnum() or c in '-_./:=' for c in a) else repr(a)


def _dist_context():
    if 'EMBER_DIST_CHILD' not in os.environ:
        return None
    import ember.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group()
    return dist.get_rank(), dist.get_world_size()


def _write_metrics(out, metrics, is_main):
    if not is_main or not metrics:
        return
    with open(os.path.join(out, FILES['json']), 'w') as f:
        json.dump(metrics, f, indent=2)
    with open(os.path.join(out, FILES['csv']), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(metrics[0]))
        w.writeheader()
        w.writerows(metrics)


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
    fig.savefig(os.path.join(out, FILES['plot']), dpi=100)
    plt.close(fig)


def build_for_viz(args):
    """One batch's loss and the model's named parameters, for `ember viz`."""
    train_set, _, input_shape, num_classes = load_data(args.data, args.data_dir, limit=64)
    model = build_model(args.model, input_shape, num_classes)
    from ember.utils.data import DataLoader
    x, y = next(iter(DataLoader(train_set, batch_size=16)))
    loss = nn.functional.cross_entropy(model(x), y)
    return loss, dict(model.named_parameters())
