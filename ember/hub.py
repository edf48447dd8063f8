"""ember.hub: torch.hub's API offline — local hubconf repos and files already in the hub cache; no downloads."""
import importlib.util
import os
import sys
from urllib.parse import urlparse

__all__ = ['load', 'list', 'help', 'load_state_dict_from_url', 'download_url_to_file', 'get_dir', 'set_dir']

_hub_dir = None


def get_dir():
    """The hub cache directory: set_dir()'s, else $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else
    ~/.cache/torch/hub — PyTorch's own location, so files it downloaded earlier are found offline."""
    if _hub_dir is not None:
        return _hub_dir
    if os.getenv('TORCH_HOME'):
        return os.path.join(os.path.expanduser(os.getenv('TORCH_HOME')), 'hub')
    cache = os.getenv('XDG_CACHE_HOME', os.path.join(os.path.expanduser('~'), '.cache'))
    return os.path.join(cache, 'torch', 'hub')


def set_dir(d):
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def _no_network(what):
    return RuntimeError(f'ember.hub cannot download {what}: ember has no network access for hub downloads. Fetch '
                        f'it elsewhere and place it in the hub cache ({get_dir()}), or use source="local" with a '
                        f'directory that holds hubconf.py.')


def _parse_repo(github):
    repo, _, ref = github.partition(':')
    if repo.count('/') != 1:
        raise ValueError(f'Invalid input: repo_or_dir should be of the form "repo_owner/repo_name[:ref]", got '
                         f'{github!r}')
    owner, name = repo.split('/')
    return owner, name, ref


def _resolve(repo_or_dir, source):
    """The local directory holding the repo's hubconf.py."""
    if source not in ('github', 'local'):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == 'local':
        if not os.path.isdir(repo_or_dir):
            raise FileNotFoundError(f'ember.hub: local repo directory {repo_or_dir!r} does not exist')
        return repo_or_dir
    owner, name, ref = _parse_repo(repo_or_dir)
    for r in ([ref] if ref else ['main', 'master']):
        cached = os.path.join(get_dir(), f'{owner}_{name}_{r.replace("/", "_")}')
        if os.path.isfile(os.path.join(cached, 'hubconf.py')):
            return cached
    raise _no_network(f'the GitHub repo {repo_or_dir!r}')


def _hubconf(repo_dir):
    path = os.path.join(repo_dir, 'hubconf.py')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'ember.hub: {path} not found')
    sys.path.insert(0, repo_dir)
    try:
        spec = importlib.util.spec_from_file_location('hubconf', path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(repo_dir)
    return mod


def _entry(mod, model):
    fn = getattr(mod, model, None)
    if fn is None or not callable(fn):
        raise RuntimeError(f'Cannot find callable {model} in hubconf')
    return fn


def list(github, force_reload=False, skip_validation=False, trust_repo=None, verbose=True, source='github'):
    """The entrypoints (public callables) of a repo's hubconf.py."""
    mod = _hubconf(_resolve(github, source))
    return [n for n in dir(mod) if callable(getattr(mod, n)) and not n.startswith('_')]


def help(github, model, force_reload=False, skip_validation=False, trust_repo=None, source='github'):
    """The docstring of an entrypoint."""
    return _entry(_hubconf(_resolve(github, source)), model).__doc__


def load(repo_or_dir, model, *args, source='github', trust_repo=None, force_reload=False, verbose=True,
         skip_validation=False, **kwargs):
    """Call entrypoint ``model`` of a repo's hubconf.py: a local directory (source='local') or a GitHub repo already
    in the hub cache; anything that needs a download raises RuntimeError naming it."""
    if force_reload and source == 'github':
        raise _no_network(f'the GitHub repo {repo_or_dir!r} (force_reload=True)')
    return _entry(_hubconf(_resolve(repo_or_dir, source)), model)(*args, **kwargs)


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    raise _no_network(f'the URL {url!r}')


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                             file_name=None, weights_only=False):
    """Load a checkpoint already in the hub cache (``<hub dir>/checkpoints/<file name>``) with ember.load; a file
    that is not there would need a download, which raises RuntimeError naming the URL."""
    model_dir = model_dir or os.path.join(get_dir(), 'checkpoints')
    name = file_name or os.path.basename(urlparse(url).path)
    cached = os.path.join(model_dir, name)
    if not os.path.isfile(cached):
        raise _no_network(f'the URL {url!r} (not in the cache as {cached})')
    from .serialization import load as _load
    return _load(cached, map_location=map_location, weights_only=weights_only)
