"""The toolkit's own exceptions: every bad input raises one of these with a message naming the
file (or config field) and what is wrong."""


class SpikeCLIPError(Exception):
    """Base class of the toolkit's errors."""


class SpikeFormatError(SpikeCLIPError, ValueError):
    """A spike file (``.dat``/``.npz``) or array has the wrong size, shape, dtype or content."""


class CheckpointError(SpikeCLIPError, ValueError):
    """A checkpoint is missing, from the wrong stage, or does not fit the model."""


class ConfigError(SpikeCLIPError, ValueError):
    """A config names something that does not exist or is inconsistent."""


class NonFiniteLossError(SpikeCLIPError, FloatingPointError):
    """A loss term became NaN or Inf; training stops before the optimiser step."""


class OutputError(SpikeCLIPError):
    """An output cannot be written (a full disk, a file-size limit), or would replace a file that
    the toolkit did not write; ends a run even where bad inputs are skipped."""
