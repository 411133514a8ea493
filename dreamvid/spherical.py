"""360° video metadata in MP4: ``path → Spherical | None`` to read it, ``(path, stereo)`` to write it.

Players (YouTube, VR headsets, VLC) show a video as a sphere only when its file says so. Two schemes from
Google's spatial-media specifications are in use, and :func:`write_spherical` writes both:

- **V1** (the Spherical Video RFC): a ``uuid`` box ``ffcc8263-f855-4a93-8814-587a02521fdd`` in the
  video ``trak``, holding RDF/XML: ``GSpherical:Spherical``, ``ProjectionType``, ``StereoMode``, ...
- **V2** (the Spherical Video V2 RFC): ``st3d`` (the stereo layout, one byte) and
  ``sv3d{svhd, proj{prhd, equi|cbmp|mshp}}`` in the video sample entry (``avc1``, ``hvc1``, ...). Where a
  file has both and they disagree, V2 wins, as the specification says.

Convention:
    - Files are ISO BMFF (MP4, MOV): a sequence of boxes ``size:u32 type:4cc [largesize:u64] body``,
      big-endian. ``size`` counts the header; ``1`` means the 64-bit ``largesize`` follows the type, ``0``
      that the box runs to the end of its parent (at top level: of the file).
    - ``stereo`` names where each eye is in the frame: ``"top-bottom"`` has the left eye on top,
      ``"left-right"`` the left eye on the left, ``"mono"`` a single view.
    - Writing rebuilds the ``moov`` box only; frames and audio are copied byte for byte. When ``moov``
      lies before the media data (``-movflags +faststart``), that data moves by the bytes added, and every
      chunk offset (``stco``/``co64``) of every track moves with it. The new file is written beside the
      old one and renamed over it (:mod:`dreamvid.fileio`), keeping its permissions, so a crash leaves the
      old file as it was.

The ffmpeg bundled with imageio-ffmpeg reads both schemes (``ffmpeg -i`` lists ``spherical:`` and
``stereo3d:`` side data for the video stream) but cannot attach them to frames it encodes; hence this module.
"""

from __future__ import annotations

import itertools
import logging
import mmap
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree

from dreamvid.errors import ConfigError, InputError, OutputError
from dreamvid.fileio import atomic_write

__all__ = ["STEREO_MODES", "Spherical", "read_spherical", "write_spherical"]

logger = logging.getLogger(__name__)

STEREO_MODES = ("mono", "top-bottom", "left-right")
"""Frame layouts :func:`write_spherical` writes, in the order of their V2 ``st3d`` codes 0, 1, 2."""

_SOFTWARE = "dreamvid"  # V1 StitchingSoftware and V2 metadata_source
_V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_GSPHERICAL = "http://ns.google.com/videos/1.0/spherical/"
_ST3D_MODES = (*STEREO_MODES, "stereo-custom", "right-left")  # every code the V2 specification defines
_V2_PROJECTIONS = {b"equi": "equirect", b"cbmp": "cubemap", b"mshp": "mesh"}
_FULL_BOX = bytes(4)  # version 0, flags 0

# Boxes parsed down to their children, with the length of the fields that come before the children.
_CONTAINERS = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"sv3d": 0, b"proj": 0}
_STSD_HEAD = 8  # version, flags, entry_count
_VISUAL_ENTRY_HEAD = 78  # VisualSampleEntry fields before its boxes (ISO/IEC 14496-12, 12.1.3)
_STBL = (b"mdia", b"minf", b"stbl")
_ENTRY_TAIL = {b"clap", b"pasp", b"btrt", b"sinf"}  # optional boxes that end a sample entry; V2 goes before
_COPY_CHUNK = 1 << 24


@dataclass(frozen=True)
class Spherical:
    """The 360° metadata of a file's video track, as :func:`read_spherical` found it.

    Attributes:
        projection: ``"equirect"`` (equirectangular), ``"cubemap"``, or ``"mesh"`` (V2 only, e.g. VR180).
        stereo: ``"mono"``, ``"top-bottom"`` or ``"left-right"``; V2 also has ``"stereo-custom"`` and
            ``"right-left"``.
        version: Which schemes the file carries: ``"v1"``, ``"v2"`` or ``"v1+v2"``.
    """

    projection: str
    stereo: str
    version: str


# ------------------------------------------------------------------------------------------------ boxes


class _BoxError(ValueError):
    """The file is not a usable MP4: a broken box structure, or a box this module needs is missing."""


@dataclass(frozen=True)
class _Box:
    """Where one box lies in a buffer: its type, the offset of its header, of its body and of its end."""

    type: bytes
    start: int
    body: int
    end: int


@dataclass(frozen=True)
class _Node:
    """A box in memory: ``head`` is its body up to its child boxes (the whole body for a leaf box)."""

    type: bytes
    head: bytes
    children: tuple[_Node, ...] = ()

    def to_bytes(self) -> bytes:
        body = self.head + b"".join(child.to_bytes() for child in self.children)
        if len(body) + 8 <= 0xFFFFFFFF:
            return struct.pack(">I4s", len(body) + 8, self.type) + body
        return struct.pack(">I4sQ", 1, self.type, len(body) + 16) + body


def _boxes(data: bytes | mmap.mmap, start: int, end: int) -> Iterator[_Box]:
    """Yield the boxes that fill ``data[start:end]``, one after another.

    Fewer than 8 bytes left at the end (QuickTime's 32-bit zero terminator) are skipped.

    Raises:
        _BoxError: A box is shorter than its own header or runs past ``end``.
    """
    offset = start
    while end - offset >= 8:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1 and end - offset >= 16:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if not header <= size <= end - offset:
            raise _BoxError(f"broken box structure: {_name(kind)} at byte {offset} has size {size}, "
                            f"but {end - offset} bytes are left")
        yield _Box(kind, offset, offset + header, offset + size)
        offset += size


def _parse(data: bytes | mmap.mmap, start: int, end: int) -> tuple[_Node, ...]:
    """Parse ``data[start:end]`` into boxes, descending into the containers in :data:`_CONTAINERS`."""
    nodes = []
    for box in _boxes(data, start, end):
        head = _CONTAINERS.get(box.type)
        if head is None:
            nodes.append(_Node(box.type, bytes(data[box.body:box.end])))
        else:
            split = box.body + head
            nodes.append(_Node(box.type, bytes(data[box.body:split]), _parse(data, split, box.end)))
    return tuple(nodes)


def _video_entries(stsd: _Node) -> tuple[_Node, ...]:
    """The sample entries of a video track's ``stsd`` box, each parsed down to its child boxes."""
    entries = []
    for box in _boxes(stsd.head, _STSD_HEAD, len(stsd.head)):
        split = box.body + _VISUAL_ENTRY_HEAD
        if split > box.end:
            raise _BoxError(f"broken box structure: video sample entry {_name(box.type)} is too short")
        entries.append(_Node(box.type, stsd.head[box.body:split], _parse(stsd.head, split, box.end)))
    return tuple(entries)


def _find(node: _Node, *path: bytes) -> _Node | None:
    """The first descendant reached by following box types down ``path``, or None."""
    for kind in path:
        found = next((child for child in node.children if child.type == kind), None)
        if found is None:
            return None
        node = found
    return node


def _replace_at(node: _Node, path: tuple[bytes, ...], new: _Node) -> _Node:
    """A copy of ``node`` in which the descendant that ``_find(node, *path)`` returns is ``new``."""
    if not path:
        return new
    index = next(i for i, child in enumerate(node.children) if child.type == path[0])
    child = _replace_at(node.children[index], path[1:], new)
    return replace(node, children=(*node.children[:index], child, *node.children[index + 1:]))


def _video_trak(moov: _Node) -> _Node | None:
    """The first track whose handler is ``vide``."""
    for trak in moov.children:
        hdlr = _find(trak, b"mdia", b"hdlr") if trak.type == b"trak" else None
        if hdlr is not None and hdlr.head[8:12] == b"vide":
            return trak
    return None


def _name(kind: bytes) -> str:
    return repr(kind.decode("latin-1"))


# ---------------------------------------------------------------------------------------------- reading


def read_spherical(path: str | os.PathLike[str]) -> Spherical | None:
    """Read the 360° metadata (V1, V2 or both) of an MP4 or MOV file's first video track.

    Args:
        path: Any file. Files that are not MP4/MOV (WebM, PNG, text), have no video track, or whose box
            structure is broken before the metadata is reached count as having none.

    Returns:
        What the metadata says, or None for a flat video (or a file that is not an MP4).

    Raises:
        InputError: The file cannot be opened or read at all.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "notes.mp4"
        >>> _ = path.write_text("not a video")
        >>> read_spherical(path) is None
        True
    """
    source = Path(path)
    try:
        with _mapped(source) as data:
            moov = next((box for box in _boxes(data, 0, len(data)) if box.type == b"moov"), None)
            if moov is None:
                return None
            trak = _video_trak(_Node(b"moov", b"", _parse(data, moov.body, moov.end)))
            return None if trak is None else _spherical(trak)
    except _BoxError as exc:
        logger.debug("no spherical metadata read from %s: %s", source, exc)
        return None
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}; check the path") from None


def _spherical(trak: _Node) -> Spherical | None:
    """Combine a video track's V1 and V2 metadata; V2 wins where they disagree."""
    v1, v2 = _read_v1(trak), _read_v2(trak)
    found = v2 or v1
    if found is None:
        return None
    version = "v1+v2" if v1 and v2 else "v2" if v2 else "v1"
    return Spherical(*found, version)


def _read_v1(trak: _Node) -> tuple[str, str] | None:
    """(projection, stereo) from a V1 ``uuid`` box's XML, or None if there is none or it is not spherical."""
    box = next((child for child in trak.children if _is_v1(child)), None)
    if box is None:
        return None
    try:
        root = ElementTree.fromstring(box.head[len(_V1_UUID):].rstrip(b"\0\r\n\t "))
    except ElementTree.ParseError:
        return None
    prefix = f"{{{_GSPHERICAL}}}"
    fields = {element.tag.removeprefix(prefix): (element.text or "").strip() for element in root.iter()}
    projection = fields.get("ProjectionType", "equirectangular").lower()
    stereo = fields.get("StereoMode", "mono").lower()
    if fields.get("Spherical", "").lower() != "true" or projection != "equirectangular":
        return None
    return ("equirect", stereo) if stereo in STEREO_MODES else None


def _read_v2(trak: _Node) -> tuple[str, str] | None:
    """(projection, stereo) from the first video sample entry's ``sv3d`` and ``st3d``, or None."""
    stsd = _find(trak, *_STBL, b"stsd")
    entries = _video_entries(stsd) if stsd is not None else ()
    proj = _find(entries[0], b"sv3d", b"proj") if entries else None
    kinds = [child.type for child in proj.children] if proj is not None else []
    projection = next((_V2_PROJECTIONS[kind] for kind in kinds if kind in _V2_PROJECTIONS), None)
    if projection is None:
        return None
    st3d = _find(entries[0], b"st3d")
    code = st3d.head[4] if st3d is not None and len(st3d.head) > 4 else 0  # no st3d: mono
    return (projection, _ST3D_MODES[code]) if code < len(_ST3D_MODES) else None


def _is_v1(node: _Node) -> bool:
    return node.type == b"uuid" and node.head.startswith(_V1_UUID)


# ---------------------------------------------------------------------------------------------- writing


def write_spherical(
    path: str | os.PathLike[str], *, projection: str = "equirect", stereo: str = "mono"
) -> None:
    """Mark an MP4 file as a 360° video, in place: add V1 and V2 metadata to its first video track.

    Metadata the file already has is replaced, never duplicated. Frames and audio stay byte for byte as
    they were; the file keeps its layout (``moov`` before or after the media data).

    Args:
        path: An MP4 (or MOV) file with a video track, e.g. one ffmpeg wrote with libx264. Fragmented MP4
            is not supported.
        projection: ``"equirect"``, the only projection written.
        stereo: One of :data:`STEREO_MODES`.

    Raises:
        ConfigError: ``projection`` or ``stereo`` is not one of those above.
        OutputError: The file cannot be read or replaced, or is not an MP4 with a video track.

    Example:
        >>> import subprocess, tempfile, imageio_ffmpeg
        >>> path = Path(tempfile.mkdtemp()) / "pano.mp4"
        >>> _ = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi",
        ...                     "-i", "testsrc=size=128x64", "-frames:v", "2", str(path)], check=True)
        >>> write_spherical(path, stereo="top-bottom")
        >>> read_spherical(path)
        Spherical(projection='equirect', stereo='top-bottom', version='v1+v2')
    """
    target = Path(path)
    if projection != "equirect":
        raise ConfigError(f"expected projection 'equirect' (the only one written), got {projection!r}")
    if stereo not in STEREO_MODES:
        raise ConfigError(f"expected stereo {', '.join(map(repr, STEREO_MODES))}, got {stereo!r}")
    failure = f"cannot add 360° metadata to {target}"
    try:
        with atomic_write(target, failure=failure, keep_mode=True) as stream, _mapped(target) as data:
            moov_box = _top_level_moov(data)
            moov = _with_spherical(_Node(b"moov", b"", _parse(data, moov_box.body, moov_box.end)), stereo)
            # Media data after the old moov moves by the change in its size; data before it stays put.
            delta = len(moov.to_bytes()) - (moov_box.end - moov_box.start)
            moov = _shift_chunk_offsets(moov, delta, after=moov_box.end)
            pieces = (_chunks(data, 0, moov_box.start), [moov.to_bytes()], _chunks(data, moov_box.end, len(data)))
            for chunk in itertools.chain.from_iterable(pieces):
                stream.write(chunk)
    except _BoxError as exc:
        raise OutputError(f"{failure}: {exc}; give an MP4 file with a video track") from None


def _top_level_moov(data: bytes | mmap.mmap) -> _Box:
    """The file's ``moov`` box, after checking that the whole file is a sequence of boxes."""
    boxes: list[_Box] = []
    try:
        for box in _boxes(data, 0, len(data)):
            boxes.append(box)
    except _BoxError as exc:
        raise _BoxError(f"it is not an MP4 file ({exc})" if not boxes else str(exc)) from None
    moov = next((box for box in boxes if box.type == b"moov"), None)
    if moov is None:
        raise _BoxError("it has no 'moov' box, so it is not an MP4 file")
    if any(box.type == b"moof" for box in boxes):
        raise _BoxError("fragmented MP4 ('moof' boxes) is not supported")
    return moov


def _with_spherical(moov: _Node, stereo: str) -> _Node:
    """A copy of ``moov`` with V1 and V2 metadata in its first video track, replacing any already there."""
    trak = _video_trak(moov)
    if trak is None:
        raise _BoxError("it has no video track")
    stsd = _find(trak, *_STBL, b"stsd")
    entries = _video_entries(stsd) if stsd is not None else ()
    if stsd is None or not entries:
        raise _BoxError("its video track has no sample description")
    v2 = _v2_boxes(stereo)
    entries = tuple(_with_v2(entry, v2) for entry in entries)
    new_trak = _replace_at(trak, (*_STBL, b"stsd"), _Node(b"stsd", stsd.head[:_STSD_HEAD], entries))
    kept = tuple(child for child in new_trak.children if not _is_v1(child))
    new_trak = replace(new_trak, children=(*kept, _v1_box(stereo)))
    return replace(moov, children=tuple(new_trak if child is trak else child for child in moov.children))


def _with_v2(entry: _Node, v2: tuple[_Node, ...]) -> _Node:
    """A sample entry with the ``v2`` boxes in place of its own, before the optional boxes that end it."""
    kept = [child for child in entry.children if child.type not in (b"st3d", b"sv3d")]
    at = next((index for index, child in enumerate(kept) if child.type in _ENTRY_TAIL), len(kept))
    return replace(entry, children=(*kept[:at], *v2, *kept[at:]))


def _v1_box(stereo: str) -> _Node:
    """The V1 ``uuid`` box with its RDF/XML."""
    fields = {"Spherical": "true", "Stitched": "true", "StitchingSoftware": _SOFTWARE,
              "ProjectionType": "equirectangular"}
    if stereo != "mono":
        fields["StereoMode"] = stereo
    xml = (f'<?xml version="1.0"?><rdf:SphericalVideo xmlns:rdf="{_RDF}" xmlns:GSpherical="{_GSPHERICAL}">'
           + "".join(f"<GSpherical:{name}>{value}</GSpherical:{name}>" for name, value in fields.items())
           + "</rdf:SphericalVideo>")
    return _Node(b"uuid", _V1_UUID + xml.encode())


def _v2_boxes(stereo: str) -> tuple[_Node, _Node]:
    """The V2 ``st3d`` and ``sv3d`` boxes of an uncropped equirectangular video with the default pose."""
    st3d = _Node(b"st3d", _FULL_BOX + bytes([STEREO_MODES.index(stereo)]))
    svhd = _Node(b"svhd", _FULL_BOX + _SOFTWARE.encode() + b"\0")
    prhd = _Node(b"prhd", _FULL_BOX + struct.pack(">3i", 0, 0, 0))  # yaw, pitch, roll (16.16 degrees)
    equi = _Node(b"equi", _FULL_BOX + struct.pack(">4I", 0, 0, 0, 0))  # cropped top, bottom, left, right
    return st3d, _Node(b"sv3d", b"", (svhd, _Node(b"proj", b"", (prhd, equi))))


def _shift_chunk_offsets(node: _Node, delta: int, *, after: int) -> _Node:
    """Copy ``node``, moving every chunk offset (``stco``, ``co64``) >= ``after`` by ``delta`` bytes."""
    if node.type in (b"stco", b"co64"):
        return _shifted_table(node, delta, after)
    if not node.children:
        return node
    children = tuple(_shift_chunk_offsets(child, delta, after=after) for child in node.children)
    return replace(node, children=children)


def _shifted_table(table: _Node, delta: int, after: int) -> _Node:
    """A chunk offset table with every offset >= ``after`` moved by ``delta``.

    ``stco`` and ``co64`` are FullBoxes: ``entry_count:u32``, then the offsets, u32 or u64 each.
    """
    width = 4 if table.type == b"stco" else 8
    count = struct.unpack_from(">I", table.head, 4)[0] if len(table.head) >= 8 else 0
    end = 8 + width * count
    if len(table.head) < end:
        raise _BoxError(f"broken box structure: {_name(table.type)} is shorter than its entries")
    entries = f">{count}{'I' if width == 4 else 'Q'}"
    old = struct.unpack_from(entries, table.head, 8)
    offsets = [offset + delta if offset >= after else offset for offset in old]
    if max(offsets, default=0) >= 1 << (8 * width):
        raise _BoxError(f"its chunk offsets would overflow {_name(table.type)}; remux it with ffmpeg first")
    return _Node(table.type, table.head[:8] + struct.pack(entries, *offsets) + table.head[end:])


# ------------------------------------------------------------------------------------------------ files


@contextmanager
def _mapped(path: Path) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes, memory-mapped (read-only), so that the media data is never read into memory."""
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield data


def _chunks(data: bytes | mmap.mmap, start: int, end: int) -> Iterator[bytes]:
    for offset in range(start, end, _COPY_CHUNK):
        yield data[offset:min(offset + _COPY_CHUNK, end)]
