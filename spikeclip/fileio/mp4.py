"""H.264 MP4 videos of grey frames, written atomically (through imageio-ffmpeg, whose wheel ships
its own ffmpeg executable).

Frames go to a hidden temporary file next to the destination
(``.<name>.spikeclip-<8 random>.tmp``, the naming of :mod:`spikeclip.utils.atomic`), which
:meth:`Mp4Writer.commit` renames onto it once the encoder has finished and the file has been
checked, so a killed run or a failed write never leaves a broken video under the real name.
"""
import os
import os.path as osp
import tempfile
from typing import Tuple

import numpy as np

from ..utils.atomic import _umask, temporary_prefix
from ..utils.errors import ConfigError, SpikeCLIPError

# x264 constant-rate factor: 17 is visually lossless for 8-bit grey frames (the PNGs next to the
# video are the exact frames).
DEFAULT_CRF = 17


def _imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise ConfigError('writing MP4 videos needs imageio-ffmpeg (it ships its own ffmpeg): '
                          'pip install imageio-ffmpeg (listed in requirements/runtime.txt)') from e
    return imageio_ffmpeg


def video_size(height: int, width: int) -> Tuple[int, int]:
    """``(H, W)`` of the video of ``height x width`` frames: rounded up to even sides, which
    H.264 in the widely playable 4:2:0 format needs (an odd side gets its last row/column
    repeated)."""
    return height + height % 2, width + width % 2


class Mp4Writer:
    """Write 8-bit grey frames ``[H, W]`` into an H.264 MP4 (yuv420p) atomically.

    Use as a context manager (commits on success, deletes the temporary on an exception) or
    call :meth:`commit` / :meth:`abort`.

    Args:
        path (str): The ``.mp4`` file to create or replace.
        height (int): Frame height H.
        width (int): Frame width W.
        fps (float): Frames per second of playback. Defaults to 30.
        crf (int): x264 constant-rate factor (0 lossless, 17 visually lossless, 23 x264's
            default). Defaults to :data:`DEFAULT_CRF`.

    Raises:
        ConfigError: imageio-ffmpeg is missing, or a bad ``fps``/``crf``.
        SpikeCLIPError: The folder cannot be written or the encoder fails to start.
    """

    def __init__(self, path: str, height: int, width: int, fps: float = 30.0,
                 crf: int = DEFAULT_CRF):
        if not fps > 0:
            raise ConfigError(f'the video frame rate must be positive, got {fps!r}')
        if not 0 <= crf <= 51:
            raise ConfigError(f'crf must be between 0 and 51, got {crf!r}')
        ffmpeg = _imageio_ffmpeg()
        self.path, self.height, self.width = path, height, width
        self.size = video_size(height, width)
        folder = osp.dirname(osp.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix='.tmp',
                                            dir=folder)
            os.close(fd)
        except OSError as e:
            raise SpikeCLIPError(f'{path}: cannot be written ({e.strerror})') from e
        self.frames = 0
        # Bit-exact output (no encoder version strings), so that reruns give identical files.
        params = ['-f', 'mp4', '-crf', str(int(crf)), '-preset', 'medium', '-movflags',
                  '+faststart', '-fflags', '+bitexact', '-flags:v', '+bitexact']
        self._gen = ffmpeg.write_frames(self.tmp, (self.size[1], self.size[0]),
                                        pix_fmt_in='gray', pix_fmt_out='yuv420p', fps=fps,
                                        quality=None, codec='libx264', macro_block_size=1,
                                        ffmpeg_log_level='error', output_params=params)
        try:
            self._gen.send(None)
        except Exception as e:
            self._discard()
            raise SpikeCLIPError(f'{path}: the video encoder did not start: {e}') from e

    def write(self, frame: np.ndarray) -> None:
        """Append one ``[H, W]`` uint8 frame.

        Raises:
            SpikeCLIPError: A frame of another size or type, or the encoder failed.
        """
        if frame.shape != (self.height, self.width) or frame.dtype != np.uint8:
            raise SpikeCLIPError(f'{self.path}: video frames must be {self.height}x{self.width} '
                                 f'uint8, got {frame.shape} {frame.dtype}')
        if self.size != frame.shape:
            frame = np.pad(frame, ((0, self.size[0] - self.height),
                                   (0, self.size[1] - self.width)), mode='edge')
        try:
            self._gen.send(np.ascontiguousarray(frame))
        except Exception as e:
            self.abort()
            raise SpikeCLIPError(f'{self.path}: the video encoder failed: '
                                 f'{str(e).strip().splitlines()[-1] if str(e) else e}') from e
        self.frames += 1

    def commit(self) -> None:
        """Finish the video and rename it onto ``path``.

        Raises:
            SpikeCLIPError: No frames were written, or the encoder failed.
        """
        if self.frames == 0:
            self.abort()
            raise SpikeCLIPError(f'{self.path}: no frames to write')
        try:
            self._gen.close()
            with open(self.tmp, 'rb') as f:
                os.fsync(f.fileno())
            os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.path)
        except Exception as e:
            self._discard()
            raise SpikeCLIPError(f'{self.path}: the video could not be finished: {e}') from e

    def abort(self) -> None:
        """Stop the encoder and delete the temporary file (``path`` is untouched)."""
        try:
            self._gen.close()
        except Exception:  # the encoder may have died (e.g. Ctrl-C reached it too)
            pass
        self._discard()

    def _discard(self) -> None:
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> 'Mp4Writer':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def mp4_info(path: str) -> dict:
    """``frames``, ``height``, ``width`` and ``fps`` of an MP4 (decoding it once), for checks."""
    ffmpeg = _imageio_ffmpeg()
    reader = ffmpeg.read_frames(path, pix_fmt='gray', bits_per_pixel=8)
    meta = next(reader)
    frames = sum(1 for _ in reader)
    width, height = meta['size']
    return dict(frames=frames, height=height, width=width, fps=meta.get('fps'))


def read_mp4(path: str) -> np.ndarray:
    """Every frame of an MP4 as ``[T, H, W]`` uint8 grey (for checks and tests)."""
    ffmpeg = _imageio_ffmpeg()
    reader = ffmpeg.read_frames(path, pix_fmt='gray', bits_per_pixel=8)
    meta = next(reader)
    width, height = meta['size']
    return np.stack([np.frombuffer(f, np.uint8).reshape(height, width) for f in reader])
