"""Registries of the SpikeCLIP toolkit.

Every registry that mirrors an MMEngine one is its child (``parent=``), so that a config with
``default_scope='spikeclip'`` finds our modules first and falls back to MMEngine's. ``locations``
lists the packages that are imported on the first build, so no manual import is needed.

The component registries (encoders, adapters, refiners, losses) have no MMEngine counterpart;
they are standalone with the same ``spikeclip`` scope and are built by the stage models from the
sub-dicts of their configs (``encoder=dict(type='LRN')``).
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

# Stage models (BaseModel), data preprocessors and the frozen CLIP wrapper.
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['spikeclip.models'])
# Spike datasets: U-CALTECH/U-CIFAR npz, paired .dat/.png, simulated on the fly.
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['spikeclip.datasets'])
# Data transforms (kept for MMEngine compatibility; our datasets crop internally).
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, locations=['spikeclip.datasets'])
# Samplers (MMEngine's are used; the child keeps scoped lookups working).
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS,
                         locations=['spikeclip.datasets'])
# Evaluation metrics (PSNR, SSIM, L1, L2, accuracy, prompt separation).
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['spikeclip.evaluation'])
# Runner hooks (device metrics, checkpoint combining, visualisation, NaN guard).
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['spikeclip.engine'])
# Runner loops (MMEngine's are used; the child keeps scoped lookups working).
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['spikeclip.engine'])
# Optimisation (MMEngine's are used; the children keep scoped lookups quiet and working).
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=['spikeclip.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS,
                          locations=['spikeclip.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor',
                                      parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                      locations=['spikeclip.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS,
                            locations=['spikeclip.engine'])
# Visualizers (image grids of spikes, reconstructions and references).
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS,
                       locations=['spikeclip.visualization'])
# Visualisation back-ends (MMEngine's TensorBoard and local back-ends).
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       locations=['spikeclip.visualization'])

# Stage-1 encoders: spikes [N, T, H, W] -> image [N, 1, H, W] in [0, 1] (TFP, TFI, LRN, SNN).
ENCODERS = Registry('encoder', scope='spikeclip', locations=['spikeclip.models.encoders'])
# Stage-2 prompt adapters around a frozen CLIP (HQ/LQ prompts, class prompts).
ADAPTERS = Registry('adapter', scope='spikeclip', locations=['spikeclip.models.adapters'])
# Stage-3 refiners: coarse image [N, 1, H, W] -> refined image [N, 1, H, W].
REFINERS = Registry('refiner', scope='spikeclip', locations=['spikeclip.models.refiners'])
# Losses with ``loss_weight`` (pixel, self-supervised, CLIP class and prompt losses).
LOSSES = Registry('loss', scope='spikeclip', locations=['spikeclip.models.losses'])
