"""Still images at the boundary: read, write, convert, tile.

Convention:
    - A *frame* (what :func:`read_image` returns and :func:`write_image` takes) is a numpy array of shape
      ``(H, W, 3)``, dtype ``uint8``, channels in **RGB** order.
    - A *tensor* (what the dreaming code works on) is a ``torch.Tensor`` of shape ``(1, 3, H, W)``,
      dtype ``float32``, channels in **RGB** order, values in ``[0, 1]``.
    - OpenCV's BGR order exists only inside this module; nothing it returns is BGR.

Reading accepts anything OpenCV decodes (JPEG, PNG, WebP, BMP, TIFF, ...): grayscale becomes three equal
channels, an alpha channel is dropped (colour kept as stored, not composited), 16-bit samples are scaled
to 8 bits with rounding (``v / 257``), float samples are taken as ``[0, 1]`` and clipped, and the EXIF
orientation of photos is applied. Writing supports :data:`IMAGE_EXTENSIONS`, chosen by the (case-
insensitive) extension, and is atomic: the target either gets the complete new image or is left as it was.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Collection, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from dreamvid.arrays import check_frame, to_float, to_uint8
from dreamvid.errors import ConfigError, InputError, OutputError
from dreamvid.fileio import write_bytes

__all__ = [
    "IMAGE_EXTENSIONS",
    "check_output_path",
    "contact_sheet",
    "declared_size",
    "parse_size",
    "read_image",
    "to_image",
    "to_tensor",
    "write_image",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp"})
"""Extensions :func:`write_image` can write (lower case, with the dot)."""

MAX_SIZE = 16384
"""Largest width or height :func:`parse_size` accepts, and that :func:`read_image` reads (checked in the
file's header, before any pixel is decoded)."""

_HEADER_BYTES = 65536
_CV_MAX_PIXELS = 1 << 30  # OpenCV's default CV_IO_MAX_IMAGE_PIXELS

# Decode flags: keep 16-bit/float depth and grayscale-ness (we convert them ourselves), let the decoder drop
# alpha, and -- unlike IMREAD_UNCHANGED -- apply the EXIF orientation, so phone photos come out upright.
_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR

_SHEET_GAP = 4
_SHEET_BACKGROUND = (24, 24, 24)
_SIZE_PATTERN = re.compile(r"\s*([0-9]+)\s*[xX*]\s*([0-9]+)\s*")


# --------------------------------------------------------------------------------------------- reading


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a still image file as an RGB frame.

    Args:
        path: Any image file OpenCV can decode; non-ASCII names work.

    Returns:
        A new ``(H, W, 3)`` uint8 RGB array (see the module docstring for how grayscale, alpha, 16-bit and
        float images are converted).

    Raises:
        InputError: The file is missing, a directory, empty, unreadable, not a decodable image, or larger
            than :data:`MAX_SIZE` pixels a side (refused from its header, before decoding).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "red.png"
        >>> write_image(path, np.full((2, 3, 3), (255, 0, 0), np.uint8))
        >>> read_image(path)[0, 0].tolist()
        [255, 0, 0]
    """
    data = _read_bytes(Path(path))
    size = declared_size(data[:_HEADER_BYTES].tobytes())
    if size is not None and max(size) > MAX_SIZE:
        raise InputError(f"{path} is {size[0]}x{size[1]} pixels, more than the {MAX_SIZE} pixels a side dreamvid "
                         "works with; downscale it first")
    try:
        decoded = cv2.imdecode(data, _DECODE_FLAGS)
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise InputError(f"{path} has more pixels than OpenCV decodes ({_CV_MAX_PIXELS} at most); downscale "
                             "it first") from None
        decoded = None
    if decoded is None:
        raise InputError(f"cannot read {path} as an image (not a JPEG/PNG/WebP/BMP/TIFF?); check the file")
    return _to_rgb8(decoded, path)


def declared_size(header: bytes) -> tuple[int, int] | None:
    """The ``(width, height)`` an image file declares in its header, read without decoding any pixel.

    Knows PNG, JPEG, WebP, GIF, BMP and TIFF; the EXIF orientation is not applied.

    Args:
        header: The file's first bytes (64 KiB is plenty: JPEG metadata can come before the size).

    Returns:
        The declared size, or None for another format or a header too short or malformed to tell.

    Example:
        >>> declared_size(b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00\\x00\\rIHDR\\x00\\x01\\x86\\xa0\\x00\\x00\\x00\\x02")
        (100000, 2)
    """
    try:
        if header.startswith(b"\x89PNG\r\n\x1a\n") and header[12:16] == b"IHDR":
            return struct.unpack(">II", header[16:24])
        if header.startswith((b"GIF87a", b"GIF89a")):
            return struct.unpack("<HH", header[6:10])
        if header.startswith(b"BM"):
            if struct.unpack("<I", header[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
                return struct.unpack("<HH", header[18:22])
            width, height = struct.unpack("<ii", header[18:26])
            return abs(width), abs(height)  # a negative height means top-down rows
        if header.startswith(b"RIFF") and header[8:12] == b"WEBP":
            return _webp_size(header)
        if header.startswith(b"\xff\xd8"):
            return _jpeg_size(header)
        if header[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(header)
    except struct.error:  # cut short
        return None
    return None


def _webp_size(header: bytes) -> tuple[int, int] | None:
    chunk = header[12:16]
    if chunk == b"VP8 " and header[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", header[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and header[20:21] == b"\x2f":
        bits = struct.unpack("<I", header[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(header[24:27], "little") + 1, int.from_bytes(header[27:30], "little") + 1
    return None


def _jpeg_size(header: bytes) -> tuple[int, int] | None:
    """Walk the JPEG markers to the first start-of-frame (SOF0-SOF15 but DHT, JPG and DAC)."""
    index = 2
    while index + 9 <= len(header):
        if header[index] != 0xFF:
            return None
        marker = header[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            index += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", header[index + 5:index + 9])
            return width, height
        index += 2 + struct.unpack(">H", header[index + 2:index + 4])[0]
    return None


def _tiff_size(header: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) from the first IFD."""
    order = "<" if header.startswith(b"II") else ">"
    offset = struct.unpack(order + "I", header[4:8])[0]
    (entries,) = struct.unpack(order + "H", header[offset:offset + 2])
    found: dict[int, int] = {}
    for index in range(entries):
        entry = header[offset + 2 + 12 * index:offset + 14 + 12 * index]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10 if kind == 3 else 12])[0]
    return (found[256], found[257]) if len(found) == 2 else None


def _read_bytes(path: Path) -> np.ndarray:
    """Return the file's bytes as a uint8 array, turning every way that can fail into an InputError."""
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input path {path} is a directory, not an image file; give a file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}; check the file") from None
    if data.size == 0:
        raise InputError(f"input file {path} is empty (0 bytes); check the file")
    return data


def _to_rgb8(decoded: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    """Convert what ``cv2.imdecode`` returned (gray or BGR, 8/16-bit or float) to ``(H, W, 3)`` uint8 RGB."""
    if decoded.dtype == np.uint8:
        pixels = decoded
    elif decoded.dtype == np.uint16:
        # round(v / 257): 65535 -> 255, 32896 -> 128; exact for integers since 257 is odd.
        pixels = ((decoded.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(decoded.dtype, np.floating):
        pixels = to_uint8(decoded)
    else:
        raise InputError(
            f"cannot read {path}: unsupported sample type {decoded.dtype}; convert it to 8- or 16-bit first"
        )
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        return np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if pixels.ndim == 3 and pixels.shape[2] == 4:  # only if a decoder ignored the flags
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    raise InputError(f"cannot read {path}: unsupported layout {decoded.shape}; convert it to RGB first")


# --------------------------------------------------------------------------------------------- writing


def check_output_path(
    path: str | os.PathLike[str],
    *,
    extensions: Collection[str] = IMAGE_EXTENSIONS,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Check up front, before any expensive work, that ``path`` can be written.

    Args:
        path: The output file.
        extensions: Accepted extensions, lower case with the dot (compared case-insensitively).
        inputs: Input files the output must not overwrite.

    Returns:
        ``path`` as a :class:`~pathlib.Path` (not resolved).

    Raises:
        OutputError: Unknown extension, missing or unwritable parent directory, ``path`` is a directory, or
            ``path`` is the same file as one of ``inputs``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> check_output_path(folder / "out.PNG").name
        'out.PNG'
        >>> check_output_path(folder / "out.gif")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dreamvid.errors.OutputError: unknown output format '.gif' ...
    """
    target = Path(path)
    _check_extension(target, extensions)
    _check_parent(target)
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {target.parent}: permission denied")
    for source in inputs:
        if _same_file(target, Path(source)):
            raise OutputError(f"output path {target} is the same as the input; choose another name")
    return target


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, quality: int = 95) -> None:
    """Write an RGB frame atomically, in the format named by the file extension.

    The image is encoded in memory, written to a hidden part file next to the target, flushed to disk and
    renamed over the target (:mod:`dreamvid.fileio`). On any failure the part file is removed and the
    target is left as it was (absent, or the old file).

    Args:
        path: Output file; its extension (one of :data:`IMAGE_EXTENSIONS`, any case) picks the format.
        image: ``(H, W, 3)`` uint8 RGB array; it is not modified.
        quality: JPEG/WebP quality, 1-100 (ignored for PNG, which is lossless).

    Raises:
        OutputError: Unknown extension, missing or unwritable directory, the target is a directory, or the
            write failed (e.g. disk full). Raised before anything is written where it can be checked.
        ConfigError: ``quality`` is outside 1-100.
        TypeError: ``image`` is not a numpy array (a programming error).
        ValueError: ``image`` has the wrong shape or dtype (a programming error).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "grey.jpg"
        >>> write_image(path, np.full((8, 8, 3), 128, np.uint8), quality=90)
        >>> read_image(path).shape
        (8, 8, 3)
    """
    target = Path(path)
    extension = _check_extension(target, IMAGE_EXTENSIONS)
    check_frame(image, "image")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ConfigError(f"expected an image quality from 1 to 100, got {quality!r}")
    _check_parent(target)
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                               _encode_params(extension, quality))
    if not ok:
        raise OutputError(f"cannot encode the image as {extension} for {target}")
    write_bytes(target, encoded.tobytes())


def _check_extension(target: Path, extensions: Collection[str]) -> str:
    """Return the lower-cased extension of ``target`` or raise if it is not one of ``extensions``."""
    extension = target.suffix.lower()
    accepted = {e.lower() for e in extensions}
    if extension not in accepted:
        shown = f"'{target.suffix}'" if target.suffix else "no extension"
        raise OutputError(
            f"unknown output format {shown} for {target}; use one of {', '.join(sorted(accepted))}"
        )
    return extension


def _check_parent(target: Path) -> None:
    """Raise if the target's directory is missing or the target itself is a directory."""
    parent = target.parent
    if not parent.exists():
        raise OutputError(f"output directory does not exist: {parent}; create it first")
    if not parent.is_dir():
        raise OutputError(f"output directory {parent} is not a directory; choose another output path")
    if target.is_dir():
        raise OutputError(f"output path {target} is a directory; give a file name")


def _same_file(target: Path, source: Path) -> bool:
    """True if ``target`` and ``source`` name the same file (hard links, symlinks and ``..`` included)."""
    try:
        if target.exists() and source.exists():
            return os.path.samefile(target, source)
    except OSError:
        pass
    return target.resolve() == source.resolve()


def _encode_params(extension: str, quality: int) -> list[int]:
    """OpenCV encoder parameters for ``extension``."""
    if extension in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, quality]
    if extension == ".webp":
        return [cv2.IMWRITE_WEBP_QUALITY, quality]
    return []


# ----------------------------------------------------------------------------------------- conversions


def to_tensor(image: np.ndarray, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """Convert an RGB frame to a dreaming tensor.

    Args:
        image: ``(H, W, 3)`` uint8 RGB array; it is not modified and the result does not share its memory.
        device: Where the tensor should live.

    Returns:
        A contiguous ``(1, 3, H, W)`` float32 RGB tensor with values ``image / 255``.

    Raises:
        TypeError: ``image`` is not a numpy array.
        ValueError: ``image`` is not ``(H, W, 3)`` uint8.

    Example:
        >>> to_tensor(np.array([[[0, 51, 255]]], np.uint8)).flatten().tolist()
        [0.0, 0.20000000298023224, 1.0]
    """
    check_frame(image, "image")
    planes = np.ascontiguousarray(to_float(image).transpose(2, 0, 1))  # new arrays: ``image`` is untouched
    return torch.from_numpy(planes).unsqueeze(0).to(device)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """Convert a dreaming tensor back to an RGB frame.

    Args:
        tensor: ``(1, 3, H, W)`` or ``(3, H, W)`` RGB, any floating dtype and device, nominally in
            ``[0, 1]``. It is not modified; gradients are not tracked.

    Returns:
        A new ``(H, W, 3)`` uint8 RGB array: ``⌊255·x + ½⌋`` after clamping to ``[0, 1]`` (NaN -> 0), the
        rounding of :func:`dreamvid.arrays.to_uint8`.

    Raises:
        TypeError: ``tensor`` is not a floating-point tensor.
        ValueError: ``tensor`` does not have one of the shapes above.

    Example:
        >>> to_image(torch.tensor([[[0.0]], [[0.5]], [[1.2]]])).tolist()
        [[[0, 128, 255]]]
    """
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        got = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise TypeError(f"expected a floating-point tensor, got {got}")
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a tensor of shape (1, 3, H, W) or (3, H, W), got {tuple(tensor.shape)}")
    planes = tensor.detach().to(device="cpu", dtype=torch.float32).numpy()  # may share ``tensor``'s memory
    return np.ascontiguousarray(to_uint8(planes).transpose(1, 2, 0))  # to_uint8 makes a new array


# ------------------------------------------------------------------------------------------- utilities


def parse_size(text: str) -> tuple[int, int]:
    """Parse a ``WIDTHxHEIGHT`` size such as ``640x360`` (also ``640X360`` or ``640*360``).

    Args:
        text: The size as typed by the user.

    Returns:
        ``(width, height)``, each from 1 to :data:`MAX_SIZE`.

    Raises:
        ConfigError: The text is not a size, or a side is out of range.

    Example:
        >>> parse_size("640x360")
        (640, 360)
    """
    match = _SIZE_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"expected a size like 640x360, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_SIZE and 1 <= height <= MAX_SIZE):
        raise ConfigError(f"expected each side of the size from 1 to {MAX_SIZE}, got {text!r}")
    return width, height


def parse_fps(text: str) -> Fraction:
    """Parse a frame rate such as ``30`` or ``24000/1001`` into an exact fraction above 0 and at most 240.

    Raises:
        ConfigError: Not a number, or out of range.

    Example:
        >>> parse_fps("24000/1001")
        Fraction(24000, 1001)
    """
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError, TypeError):
        raise ConfigError(f"--fps must be a number like 30 or 24000/1001, got {text!r}") from None
    if not 0 < rate <= 240:
        raise ConfigError(f"--fps must be above 0 and at most 240, got {text}")
    return rate


def contact_sheet(
    images: Sequence[np.ndarray],
    *,
    columns: int = 4,
    width: int = 1600,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Tile frames into one sheet for previews and side-by-side comparisons.

    Every frame is resized to a common cell width, keeping its aspect ratio (``INTER_AREA`` when
    shrinking, ``INTER_LINEAR`` when enlarging), and placed left to right, top to bottom, with a
    4-pixel dark gap around cells. Labels, if given, are drawn in white with a black outline in a
    strip under each cell (Hershey font: ASCII only; long labels are cut to fit).

    Args:
        images: ``(H, W, 3)`` uint8 RGB frames, at least one; sizes may differ. Not modified.
        columns: Cells per row (fewer if there are fewer images).
        width: Width of the whole sheet in pixels.
        labels: One caption per image, or None.

    Returns:
        A new ``(sheet_height, width, 3)`` uint8 RGB array.

    Raises:
        TypeError/ValueError: Empty ``images``, a frame that is not ``(H, W, 3)`` uint8, a label count that
            differs from the image count, or ``columns``/``width`` too small (programming errors).

    Example:
        >>> frames = [np.zeros((90, 160, 3), np.uint8)] * 3
        >>> contact_sheet(frames, columns=2, width=332).shape
        (192, 332, 3)
    """
    if len(images) == 0:
        raise ValueError("expected at least one image for the contact sheet, got none")
    for index, image in enumerate(images):
        check_frame(image, f"images[{index}]")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"expected {len(images)} labels (one per image), got {len(labels)}")
    if columns < 1:
        raise ValueError(f"expected columns >= 1, got {columns}")
    columns = min(columns, len(images))
    cell_width = (width - _SHEET_GAP * (columns + 1)) // columns
    if cell_width < 1:
        minimum = columns + _SHEET_GAP * (columns + 1)
        raise ValueError(f"expected a sheet width of at least {minimum}, got {width}")

    cells = [_fit_width(image, cell_width) for image in images]
    font_scale, label_height = _label_metrics(cell_width) if labels is not None else (0.0, 0)
    rows = [cells[start:start + columns] for start in range(0, len(cells), columns)]
    row_heights = [max(cell.shape[0] for cell in row) + label_height for row in rows]
    sheet = np.empty((sum(row_heights) + _SHEET_GAP * (len(rows) + 1), width, 3), np.uint8)
    sheet[:] = _SHEET_BACKGROUND

    top = _SHEET_GAP
    for row_index, (row, row_height) in enumerate(zip(rows, row_heights)):
        for column, cell in enumerate(row):
            left = _SHEET_GAP + column * (cell_width + _SHEET_GAP)
            sheet[top:top + cell.shape[0], left:left + cell_width] = cell
            if labels is not None:
                text = labels[row_index * columns + column]
                baseline_y = top + row_height - max(2, label_height // 4)
                _draw_label(sheet, text, (left + 2, baseline_y), font_scale, cell_width - 4)
        top += row_height + _SHEET_GAP
    return sheet


def _fit_width(image: np.ndarray, cell_width: int) -> np.ndarray:
    """Resize ``image`` to ``cell_width`` columns, keeping the aspect ratio."""
    height, width = image.shape[:2]
    if width == cell_width:
        return image
    cell_height = max(1, round(height * cell_width / width))
    interpolation = cv2.INTER_AREA if cell_width < width else cv2.INTER_LINEAR
    return cv2.resize(image, (cell_width, cell_height), interpolation=interpolation)


def _label_metrics(cell_width: int) -> tuple[float, int]:
    """Font scale and label-strip height for a cell width."""
    scale = min(1.0, max(0.35, cell_width / 500))
    (_, text_height), baseline = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    return scale, text_height + baseline + 8


def _draw_label(sheet: np.ndarray, text: str, origin: tuple[int, int], scale: float, max_width: int) -> None:
    """Draw ``text`` (cut to ``max_width`` pixels) in white with a black outline at ``origin``."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    text = text.encode("ascii", "replace").decode("ascii")
    while text and cv2.getTextSize(text, font, scale, 1)[0][0] > max_width:
        text = text[:-1]
    x, y = origin
    # the outline is the same thin text drawn around it: OpenCV advances thicker text further per glyph,
    # so a thick black pass would not line up with the white one
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)):
        cv2.putText(sheet, text, (x + dx, y + dy), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(sheet, text, origin, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
