"""H.264 MP4 videos of grey frames, written atomically (through imageio-ffmpeg, whose wheel ships
its own ffmpeg executable).

Frames go to a hidden temporary file next to the destination
(``.<name>.spikeclip-<8 random>.tmp``, the naming of :mod:`spikeclip.utils.atomic`), which
:meth:`Mp4Writer.commit` renames onto it once the encoder has finished and the file has been
checked, so a killed run or a failed write never leaves a broken video under the real name.
"""
import contextlib
import math
import os
import os.path as osp
import signal
import struct
import subprocess
import tempfile
from fractions import Fraction
from typing import Iterator, Optional, Tuple

import numpy as np

from ..utils.atomic import _umask, temporary_prefix
from ..utils.errors import ConfigError, OutputError, SpikeCLIPError

# x264 constant-rate factor: 17 is visually lossless for 8-bit grey frames (the PNGs next to the
# video are the exact frames).
DEFAULT_CRF = 17
# The comment in the metadata of every video written here: what tells a video of an earlier run,
# which a rerun may replace, from a file of the same name that is not ours.
VIDEO_MARK = 'written by SpikeCLIP'


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

    Frames are piped into ffmpeg (imageio-ffmpeg's executable), which writes the temporary file;
    :meth:`commit` renames it onto ``path`` only after ffmpeg has exited with status 0 and the
    file's index (``moov`` atom) lists every frame written, so a failed write (a full disk, a
    file-size limit) never leaves a truncated video under the real name.

    Use as a context manager (commits on success, deletes the temporary on an exception) or
    call :meth:`commit` / :meth:`abort`.

    Args:
        path (str): The ``.mp4`` file to create or replace.
        height (int): Frame height H.
        width (int): Frame width W.
        fps (float): Frames per second of playback, finite and positive. Defaults to 30.
        crf (int): x264 constant-rate factor (0 lossless, 17 visually lossless, 23 x264's
            default). Defaults to :data:`DEFAULT_CRF`.

    Raises:
        ConfigError: imageio-ffmpeg is missing, or a bad ``fps``/``crf``.
        OutputError: The folder cannot be written or the encoder fails to start.
    """

    def __init__(self, path: str, height: int, width: int, fps: float = 30.0,
                 crf: int = DEFAULT_CRF):
        check_fps(fps)
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
            raise OutputError(f'{path}: cannot be written ({e.strerror})') from e
        self.frames = 0
        # Bit-exact output (no encoder version strings), so that reruns give identical files.
        cmd = [ffmpeg.get_ffmpeg_exe(), '-y', '-f', 'rawvideo', '-vcodec', 'rawvideo', '-s',
               f'{self.size[1]}x{self.size[0]}', '-pix_fmt', 'gray', '-r',
               str(Fraction(fps).limit_denominator()), '-i', '-', '-an', '-vcodec', 'libx264',
               '-pix_fmt', 'yuv420p', '-v', 'error', '-f', 'mp4', '-crf', str(int(crf)),
               '-preset', 'medium', '-movflags', '+faststart', '-fflags', '+bitexact',
               '-flags:v', '+bitexact', '-metadata', f'comment={VIDEO_MARK}', self.tmp]
        self._log = tempfile.TemporaryFile()  # ffmpeg's messages, for the error
        try:
            # A session of its own: Ctrl-C in the terminal reaches this process, which stops it.
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=self._log,
                                          start_new_session=True)
        except OSError as e:
            self._log.close()
            self._discard()
            raise OutputError(f'{path}: the video encoder did not start: {e}') from e

    def write(self, frame: np.ndarray) -> None:
        """Append one ``[H, W]`` uint8 frame.

        Raises:
            SpikeCLIPError: A frame of another size or type.
            OutputError: The encoder failed (the message ends with ffmpeg's).
        """
        if frame.shape != (self.height, self.width) or frame.dtype != np.uint8:
            raise SpikeCLIPError(f'{self.path}: video frames must be {self.height}x{self.width} '
                                 f'uint8, got {frame.shape} {frame.dtype}')
        if self.size != frame.shape:
            frame = np.pad(frame, ((0, self.size[0] - self.height),
                                   (0, self.size[1] - self.width)), mode='edge')
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (OSError, ValueError) as e:  # ffmpeg has died: a broken pipe
            reason = self._reason(self._stop(), e)
            self._discard()
            raise OutputError(f'{self.path}: the video encoder failed ({reason})') from e
        self.frames += 1

    def commit(self) -> None:
        """Finish the video, check it and rename it onto ``path``.

        Raises:
            SpikeCLIPError: No frames were written.
            OutputError: ffmpeg failed, or the file does not hold every frame written.
        """
        if self.frames == 0:
            self.abort()
            raise SpikeCLIPError(f'{self.path}: no frames to write')
        code = self._stop()
        try:
            if code != 0:
                raise OutputError(f'{self.path}: the video encoder failed '
                                  f'({self._reason(code)}); the video was not written')
            held = mp4_frame_count(self.tmp)
            if held != self.frames:
                raise OutputError(f'{self.path}: the encoded video holds '
                                  f'{"no index" if held is None else f"{held} frames"} for the '
                                  f'{self.frames} frames written; the video was not written')
            with open(self.tmp, 'rb') as f:
                os.fsync(f.fileno())
            os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.path)
        except OSError as e:
            self._discard()
            raise OutputError(f'{self.path}: the video could not be finished: {e}') from e
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Stop the encoder and delete the temporary file (``path`` is untouched)."""
        self._stop(kill=True)
        self._discard()

    def _stop(self, kill: bool = False) -> Optional[int]:
        """Close ffmpeg's input (or kill it) and wait: its exit status."""
        proc = self._proc
        if proc.returncode is None:
            if kill:
                with contextlib.suppress(OSError):
                    proc.kill()
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
            proc.wait()
        return proc.returncode

    def _reason(self, code: Optional[int], error: Optional[BaseException] = None) -> str:
        """ffmpeg's last message, or how it ended."""
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read().decode(errors='replace').splitlines()
                 if ln.strip()]
        if lines:
            return lines[-1]
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            return f'ffmpeg was ended by signal {name}' + (
                ', a file-size limit' if name == 'SIGXFSZ' else '')
        return f'ffmpeg exited with status {code}' if code else str(error)

    def _discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)
        log = getattr(self, '_log', None)
        if log is not None and self._proc.returncode is not None:
            log.close()

    def __enter__(self) -> 'Mp4Writer':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def check_fps(fps: float) -> float:
    """``fps`` as a float, which must be finite and positive.

    Raises:
        ConfigError: Otherwise (``--fps inf``, ``nan``, 0, negative).
    """
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float('nan')
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f'--fps must be a finite positive frame rate, got {fps!r}')
    return value


def mp4_frame_count(path: str) -> Optional[int]:
    """Frames listed in an MP4's index (the ``stsz`` box of its first track), read from the
    box headers without decoding; None where the file is cut short (a box runs past its end)
    or has no index (a write that ended before ffmpeg wrote the ``moov`` atom)."""
    containers = {b'moov', b'trak', b'mdia', b'minf', b'stbl'}
    with open(path, 'rb') as f:
        end = os.fstat(f.fileno()).st_size

        def boxes(pos: int, stop: int) -> Iterator[Tuple[bytes, int, int]]:
            """``(type, data start, box end)`` of the boxes in ``[pos, stop)``."""
            while pos < stop:
                f.seek(pos)
                head = f.read(8)
                if len(head) < 8:
                    raise EOFError
                size, kind = struct.unpack('>I4s', head)
                start = pos + 8
                if size == 1:
                    size, start = struct.unpack('>Q', f.read(8))[0], pos + 16
                elif size == 0:
                    size = stop - pos
                if pos + size > stop or pos + size < start:
                    raise EOFError
                yield kind, start, pos + size
                pos += size

        def find(pos: int, stop: int) -> Optional[int]:
            for kind, start, box_end in boxes(pos, stop):
                if kind == b'stsz':
                    f.seek(start + 8)  # version/flags, sample size, then the sample count
                    return struct.unpack('>I', f.read(4))[0]
                if kind in containers:
                    found = find(start, box_end)
                    if found is not None:
                        return found
            return None

        try:
            top = list(boxes(0, end))  # every top-level box whole, the media data included
            return next((find(start, stop) for kind, start, stop in top if kind == b'moov'),
                        None)
        except (EOFError, struct.error):
            return None


def is_own_video(path: str) -> bool:
    """Whether ``path`` is a video this module wrote (:data:`VIDEO_MARK` in its index, which
    ``+faststart`` puts at the front of the file)."""
    try:
        with open(path, 'rb') as f:
            return VIDEO_MARK.encode() in f.read(16 << 20)
    except OSError:
        return False


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
