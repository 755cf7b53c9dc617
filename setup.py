import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# configs/ and tools/ travel inside the package as spikeclip/.mim/{configs,tools} (OpenMMLab's
# mim layout), so that the workflows (train_all, the demo) find them in an installed package;
# spikeclip.utils.resources looks in the source checkout first.
MIM_DIRS = ('configs', 'tools')


class BuildWithResources(build_py):

    def run(self):
        super().run()
        here = osp.dirname(osp.abspath(__file__))
        for name in MIM_DIRS:
            target = osp.join(self.build_lib, 'spikeclip', '.mim', name)
            if osp.isdir(target):
                shutil.rmtree(target)
            shutil.copytree(osp.join(here, name), target,
                            ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def read_requirements(path):
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]


def read_version():
    with open('spikeclip/__init__.py') as f:
        for line in f:
            if line.startswith('__version__'):
                return line.split('=')[1].strip().strip("'\"")
    raise RuntimeError('no __version__ in spikeclip/__init__.py')


setup(
    name='spikeclip',
    version=read_version(),
    description='SpikeCLIP: spike-camera reconstruction and classification with CLIP (MMEngine)',
    packages=find_packages(include=['spikeclip', 'spikeclip.*']),
    package_data={'spikeclip': ['datasets/class_names/*.txt', 'datasets/class_names/prompts/*.txt',
                                'pretrained/*.pth', 'models/clip/model_configs/*.json']},
    cmdclass={'build_py': BuildWithResources},
    python_requires='>=3.9',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
    },
)
