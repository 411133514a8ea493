"""Video at the boundary: ``path → frames`` and ``frames → path`` -- the only package that runs ffmpeg.

Convention:
    - A *frame* is a numpy array of shape ``(H, W, 3)``, dtype ``uint8``, channels in **RGB** order, in
      display orientation (rotation metadata already applied). Sizes are written ``(width, height)``.
    - Frame ``t`` of a clip is the picture shown at time ``t / fps``: variable-frame-rate input is turned
      into constant frame rate at :attr:`VideoInfo.fps`, and the frame rate is an exact
      :class:`~fractions.Fraction` (23.976 footage is ``Fraction(24000, 1001)``, never 23.98 or 24).
    - Frames travel through pipes as raw ``rgb24`` bytes; nothing is written to disk frame by frame
      except the PNG frames output itself.
    - Every output is written atomically: into a hidden part file (or folder) beside the target, renamed
      into place only when complete; on any failure nothing appears at the target and an existing file
      is kept.

The ffmpeg binary is the one bundled with imageio-ffmpeg; no system ffmpeg or ffprobe is needed. The
package is split by job, one module each:

    process   ffmpeg as a process: the binary, running it, draining and reading what it prints
    probe     ``path → VideoInfo``: size, exact frame rate, length, streams; input options for ffmpeg
    read      ``path → frames`` with damage accounting; ``path → sound`` (:func:`read_audio`)
    output    what every writer shares: checks up front, part files, audio, 360° metadata, publishing
    write     ``frames → VideoWriter → output``, encoded as they arrive
    join      ``segments → SegmentJoiner → output``, streams copied without re-encoding

Everything other modules use is importable from ``dreamvid.video`` itself.
"""

from dreamvid.video.join import SegmentJoiner
from dreamvid.video.output import FRAME_PATTERN, OUTPUT_FORMATS, output_format
from dreamvid.video.probe import VideoInfo, probe
from dreamvid.video.process import allow_playlists
from dreamvid.video.read import check_one_frame, damage_log, output_size, read_audio, read_frames
from dreamvid.video.write import VideoWriter

__all__ = [
    "FRAME_PATTERN",
    "OUTPUT_FORMATS",
    "SegmentJoiner",
    "VideoInfo",
    "VideoWriter",
    "allow_playlists",
    "check_one_frame",
    "damage_log",
    "output_format",
    "output_size",
    "probe",
    "read_audio",
    "read_frames",
]
