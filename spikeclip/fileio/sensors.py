"""Sensor presets: the ``.dat`` frame layouts of spike cameras as their files come.

A preset names the stored frame size and the columns of each frame that are not image: raw
captures of Vidar cameras store 250x416 frames whose last 16 columns (after the rows are put
top-down) are a head that readers drop, leaving the 250x400 image. Cited readers:

* ``vidar-250x400``: the common 250x400 layout, no head; the default of Spike-Zoo's datasets
  (``BaseDatasetConfig(height=250, width=400)``, chenkang455/Spike-Zoo
  ``spikezoo/datasets/base_dataset.py``) and of the toolkit.
* ``vidar-250x416``: a raw capture; Spike-Zoo's ``load_vidar_dat(..., remove_head=True)``
  flips the rows and keeps ``spk[:, :, :-16]``, i.e. drops the last (right-most) 16 columns
  (``spikezoo/utils/spike_utils.py``).

``--sensor NAME`` (tools) and ``sensor=NAME`` (readers, datasets, inference APIs) set the stored
height and width and the head; the arrays read are the image, ``[T, 250, 400]`` for both presets.
A raw file read as 250x400 is recognised from its size (:func:`~spikeclip.fileio.dat_num_frames`
suggests the preset), except when its frame count is a multiple of 25: 25 raw frames are exactly
26 frames of 250x400, so such a file reads without error as sheared frames; name the preset.
"""
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from ..utils.errors import ConfigError


@dataclass(frozen=True)
class Sensor:
    """The frame layout of a camera's ``.dat`` files.

    Attributes:
        name (str): The preset's name, e.g. ``'vidar-250x416'``.
        height (int): Stored (and image) frame height.
        width (int): Stored frame width, head included.
        head (int): Columns at the right end of each row that are not image and are dropped.
    """
    name: str
    height: int
    width: int
    head: int = 0

    @property
    def image_width(self) -> int:
        """The width of the image, the head dropped."""
        return self.width - self.head

    def crop(self, spikes: np.ndarray) -> np.ndarray:
        """``[T, H, width]`` decoded frames without the head: ``[T, H, image_width]``."""
        return np.ascontiguousarray(spikes[..., :self.image_width]) if self.head else spikes

    def describe(self) -> str:
        """``'vidar-250x416 (250x416 stored, the last 16 columns a head dropped)'``."""
        head = f', the last {self.head} columns a head dropped' if self.head else ''
        return f'{self.name} ({self.height}x{self.width} stored{head})'


SENSORS = {s.name: s for s in (
    Sensor('vidar-250x400', 250, 400),
    Sensor('vidar-250x416', 250, 416, head=16),
)}
SENSOR_HELP = ('sensor preset of .dat files: sets the frame height, width and the columns to '
               f'drop ({", ".join(s.describe() for s in SENSORS.values())}); replaces '
               '--height/--width')


def get_sensor(sensor: Union[str, Sensor, None]) -> Optional[Sensor]:
    """The preset named ``sensor`` (a Sensor or None pass through).

    Raises:
        ConfigError: An unknown name; the message lists the presets.
    """
    if sensor is None or isinstance(sensor, Sensor):
        return sensor
    if sensor not in SENSORS:
        raise ConfigError(f'--sensor {sensor!r}: unknown sensor preset; known: '
                          f'{", ".join(SENSORS)}')
    return SENSORS[sensor]


def stored_size(height: int, width: int,
                sensor: Union[str, Sensor, None]) -> Tuple[int, int, Optional[Sensor]]:
    """``(stored height, stored width, Sensor or None)``: the preset's size where one is named,
    else ``height x width``."""
    sensor = get_sensor(sensor)
    if sensor is None:
        return height, width, None
    return sensor.height, sensor.width, sensor


def image_size(height: int, width: int, sensor: Union[str, Sensor, None]) -> Tuple[int, int]:
    """``(H, W)`` of the frames read: the preset's image (head dropped), else ``height x width``."""
    sensor = get_sensor(sensor)
    return (height, width) if sensor is None else (sensor.height, sensor.image_width)


def check_size_options(height: Optional[int], width: Optional[int],
                       sensor: Optional[str]) -> Tuple[int, int]:
    """A tool's ``--height``/``--width`` (None: not given) with its ``--sensor``: the frame size
    to pass on (250x400 where nothing is given; with a sensor, the size is the preset's).

    Raises:
        ConfigError: ``--sensor`` together with ``--height`` or ``--width``, or an unknown preset.
    """
    if sensor is not None:
        get_sensor(sensor)
        given = [f'--{n}' for n, v in (('height', height), ('width', width)) if v is not None]
        if given:
            raise ConfigError(f'--sensor {sensor} sets the frame size; leave out '
                              f'{" and ".join(given)}')
    return 250 if height is None else height, 400 if width is None else width
