from setuptools import find_packages, setup


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
    python_requires='>=3.9',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
    },
)
