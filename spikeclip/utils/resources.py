"""Where the toolkit's configs and tools are, in a source checkout and in an installed package.

In a checkout (``pip install -e .``) they are the repository's ``configs/`` and ``tools/``. A
regular install (``pip install .``, a wheel) carries copies inside the package, under
``spikeclip/.mim/`` (the layout OpenMMLab's ``mim`` uses), written by ``setup.py`` at build time.
The workflows (``train_all``, the demo) find them through :func:`config_path` and
:func:`tool_path`, so they work wherever the package is installed.
"""
import os.path as osp

from .errors import ConfigError

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
CHECKOUT_DIR = osp.dirname(PACKAGE_DIR)
INSTALLED_DIR = osp.join(PACKAGE_DIR, '.mim')


def resource_root() -> str:
    """The folder holding ``configs/`` and ``tools/``: the checkout, else ``spikeclip/.mim``."""
    for root in (CHECKOUT_DIR, INSTALLED_DIR):
        if (osp.isfile(osp.join(root, 'configs', '_base_', 'default_runtime.py'))
                and osp.isfile(osp.join(root, 'tools', 'train.py'))):
            return root
    raise ConfigError(f'the toolkit\'s configs and tools are neither in {CHECKOUT_DIR} (a source '
                      f'checkout) nor in {INSTALLED_DIR} (an installed package); reinstall '
                      'spikeclip (pip install .) or run from the repository')


def config_path(name: str) -> str:
    """The path of a shipped config, e.g. ``config_path('coarse_demo.py')``.

    Raises:
        ConfigError: No such config (the shipped ones are listed).
    """
    path = osp.join(resource_root(), 'configs', name)
    if not osp.isfile(path):
        import glob
        shipped = sorted(osp.basename(p) for p in glob.glob(
            osp.join(resource_root(), 'configs', '*.py')))
        raise ConfigError(f'no shipped config {name!r} (in {osp.dirname(path)}); shipped: '
                          f'{", ".join(shipped)}')
    return path


def tool_path(name: str) -> str:
    """The path of a script in ``tools/``, e.g. ``tool_path('train.py')``."""
    path = osp.join(resource_root(), 'tools', name)
    if not osp.isfile(path):
        raise ConfigError(f'no tool {name!r} in {osp.dirname(path)}')
    return path


def find_config(path: str) -> str:
    """``path`` where it is a file, else the shipped config of that name (``'coarse_demo.py'``
    or ``'configs/coarse_demo.py'`` from any directory); ``path`` itself if neither exists, so
    that the caller's error names what was asked for."""
    if osp.isfile(path):
        return path
    name = path[len('configs/'):] if path.startswith('configs/') else path
    try:
        return config_path(name)
    except ConfigError:
        return path
