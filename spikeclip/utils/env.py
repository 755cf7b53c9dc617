"""What produced a result (library versions and the git commit, for work dirs and checkpoints),
and the offline switch."""
import os
import platform
import subprocess
from typing import Dict, Optional

# Set to 1 (or pass --offline to a tool) to forbid every download: CLIP weights named by a tag in
# a checkpoint or config, and http(s):// checkpoints.
OFFLINE_ENV = 'SPIKECLIP_OFFLINE'
_TRUE = ('1', 'true', 'yes', 'on')
OFFLINE_HELP = (f'forbid downloads: CLIP weights named by a tag, http(s):// checkpoints '
                f'(same as {OFFLINE_ENV}=1)')


def offline(hub: bool = False) -> bool:
    """True when downloads are forbidden: ``SPIKECLIP_OFFLINE`` is ``1``/``true``/``yes``/``on``
    (with ``hub``, ``HF_HUB_OFFLINE`` too, which forbids the CLIP weight downloads)."""
    names = (OFFLINE_ENV, 'HF_HUB_OFFLINE') if hub else (OFFLINE_ENV, )
    return any(os.environ.get(name, '').strip().lower() in _TRUE for name in names)


def set_offline(flag: bool = True) -> None:
    """Forbid downloads in this process and the processes it starts, where ``flag`` (the tools'
    ``--offline``) or ``SPIKECLIP_OFFLINE`` says so.

    Also sets ``HF_HUB_OFFLINE=1``, which the CLIP weight resolution and Hugging Face Hub obey.
    """
    if flag or offline():
        os.environ[OFFLINE_ENV] = '1'
        os.environ['HF_HUB_OFFLINE'] = '1'

_PACKAGES = ('torch', 'torchvision', 'mmengine', 'spikingjelly', 'open_clip_torch', 'timm',
             'numpy', 'scikit-image')


def git_commit(path: Optional[str] = None) -> Optional[str]:
    """The commit of the repository holding ``path`` (this package by default), with a ``-dirty``
    suffix for uncommitted changes; None outside a git checkout."""
    path = path or os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=path, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=path, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ('-dirty' if dirty else '')


def collect_env() -> Dict[str, object]:
    """Versions of the toolkit, Python and the libraries that shape results."""
    from importlib.metadata import PackageNotFoundError, version

    import spikeclip
    versions = {'spikeclip': spikeclip.__version__, 'python': platform.python_version()}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {'versions': versions, 'git_commit': git_commit(), 'platform': platform.platform()}
