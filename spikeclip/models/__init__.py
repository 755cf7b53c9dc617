# Importing the sub-packages registers their components.
from . import adapters, clip, data_preprocessors, encoders, losses, refiners, stages  # noqa: F401
