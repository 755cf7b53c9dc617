"""What produced a result: library versions and the git commit, for work dirs and checkpoints."""
import os
import platform
import subprocess
from typing import Dict, Optional

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
