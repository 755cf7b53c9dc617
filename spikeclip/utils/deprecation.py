"""Arguments that were renamed: the old name keeps working (configs and checkpoints store it)."""
import warnings
from typing import Any


def renamed_argument(owner: str, name: str, value: Any, old_name: str, old_value: Any) -> Any:
    """The value of argument ``name``, also accepted under its old name ``old_name``.

    Args:
        owner (str): The class or function, for the messages.
        name (str): The argument's name.
        value: Its value (None when not given).
        old_name (str): The deprecated name.
        old_value: The value given under the old name (None when not given).

    Returns:
        ``value``, or ``old_value`` (with a DeprecationWarning) when only the old name is given.

    Raises:
        ConfigError: Both names given with different values.
    """
    if old_value is None:
        return value
    from .errors import ConfigError
    warnings.warn(f'{owner}: {old_name} is deprecated, use {name}', DeprecationWarning,
                  stacklevel=3)
    if value is not None and value != old_value:
        raise ConfigError(f'{owner}: {name}={value} and {old_name}={old_value} disagree; use '
                          f'{name} only')
    return old_value
