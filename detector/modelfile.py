"""Model files that are safe to share: a zip of JSON and ``.npy`` arrays, checksummed.

Analysts pass models around, so loading one must never run code from it: nothing here
unpickles (arrays are read from their ``.npy`` header and bytes, ``json.loads``), and
every member's sha256 is listed in ``manifest.json``, whose own sha256 covers the rest
of the manifest. The checksums catch damage and edits, not forgery (anyone can
recompute them); a crafted file is harmless because nothing read is executed, every
size is bounded before it is read (:data:`MAX_MEMBERS`, :data:`MAX_MEMBER_BYTES`,
:data:`MAX_RATIO`, an array's header, :data:`MAX_JSON_DEPTH`), and each model kind
checks the structure of its arrays before use. The same model gives the same bytes:
members are written in a fixed order with a fixed timestamp.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.errors import DetectorError
from detector.io import atomic_file

MANIFEST = "manifest.json"
# Bounds of a model file, checked before anything bigger than a zip directory is read.
# A model has a dozen members; its zip directory takes a few hundred bytes.
MAX_MEMBERS = 32
MAX_DIRECTORY_BYTES = 1 << 16
# Uncompressed bytes of one member; the manifest lists names and parameters only.
MAX_MEMBER_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 1 << 20
# Model data deflates 2 to 14 times (the shipped sample's models); a member above
# RATIO_FLOOR that expands more is a zip bomb. write_model stores such a member
# uncompressed, so every model this detector writes it reads again.
MAX_RATIO = 20
RATIO_FLOOR = 1 << 20
# Model JSON nests at most 5 levels (statistics: counts -> name -> rows -> row).
MAX_JSON_DEPTH = 16
# numpy's own bound on an .npy header (np.save writes 128 bytes for a 1-d array).
_MAX_NPY_HEADER = 10_000


class ModelFileError(DetectorError):
    """A model file cannot be used: not a model, another format version, or tampered."""


@dataclass(frozen=True)
class Json:
    """A JSON member of at most ``most`` bytes."""

    most: int = MAX_MEMBER_BYTES

    @property
    def size_limit(self) -> int:
        return self.most

    def parse(self, data: bytes):
        return parsed_json(data)


@dataclass(frozen=True)
class Array:
    """An ``.npy`` member: one 1-d array of ``dtype`` with at most ``most`` entries."""

    dtype: type
    most: int = MAX_MEMBER_BYTES

    @property
    def size_limit(self) -> int:
        return min(MAX_MEMBER_BYTES, _MAX_NPY_HEADER + self.most * np.dtype(self.dtype).itemsize)

    def parse(self, data: bytes) -> np.ndarray:
        return npy(data, self.dtype, self.most)


def write_model(path: str | Path, fmt: str, version: int, fields: dict, members: dict[str, bytes]) -> Path:
    """Write ``members`` and a manifest (``fmt``, ``version``, ``fields``, checksums).

    Written to a temporary name and renamed (:func:`detector.io.atomic_file`), so a
    failed save leaves no half file. A member that :func:`read_model` would refuse as
    too large is refused here, before anything is written.
    """
    path = Path(path)
    manifest = {"format": fmt, "format_version": version, **fields,
                "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}}
    manifest["manifest_sha256"] = manifest_digest(manifest)
    contents = {MANIFEST: json_bytes(manifest), **members}
    for name, data in contents.items():
        limit = MAX_MANIFEST_BYTES if name == MANIFEST else MAX_MEMBER_BYTES
        if len(data) > limit:
            raise ModelFileError(f"model file {path}: cannot save {name} of {len(data):,} bytes; a model "
                                 f"member holds at most {limit:,} (fit on a shorter history)")
    with atomic_file(path) as temporary, zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: same model, same bytes
            info.compress_type = _compression(data)
            archive.writestr(info, data)
    return path


def _compression(data: bytes) -> int:
    """Deflate, unless the member would expand more than :data:`MAX_RATIO` on reading
    (an array of zeros): stored as it is, it still reads as a model, not a bomb."""
    if len(data) > RATIO_FLOOR and len(zlib.compress(data)) * MAX_RATIO < len(data):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


# One check after another on an untrusted file, each refusing in its own words; split
# up, the order of the checks (sizes before any read) would be harder to see.
def read_model(path: str | Path, fmt: str, version: int, expected: dict[str, Json | Array],  # noqa: C901
               kind: str = "model") -> tuple[dict, dict]:
    """The manifest and parsed members of a file written by :func:`write_model`.

    ``expected`` names each member and what it holds (:class:`Json` or :class:`Array`);
    the result maps each name to its JSON value or array.

    Raises
    ------
    ModelFileError
        Not a zip, too many members or one larger than its kind holds (checked from
        the zip directory before anything is read), no manifest, another format
        (``kind`` names the expected one in the message) or format version, a manifest
        that does not match its sha256, a missing or unexpected member, a member whose
        sha256 differs, or one that is not the JSON or array it should be.
    """
    path = Path(path)
    where = f"model file {path}"
    try:
        problem = _directory_problem(path)
        if problem:
            raise ModelFileError(f"{where}: {problem}")
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ModelFileError(f"{where}: no such file") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{where}: not a detector model (not a zip archive: {exc})") from None
    with archive:
        infos = {info.filename: info for info in archive.infolist()}
        if len(archive.infolist()) > MAX_MEMBERS:
            raise ModelFileError(f"{where}: the archive holds {len(archive.infolist()):,} members; "
                                 f"a model has at most {MAX_MEMBERS}")
        if MANIFEST not in infos:
            raise ModelFileError(f"{where}: not a detector model (no {MANIFEST} in the archive)")
        specs = {MANIFEST: Json(MAX_MANIFEST_BYTES), **expected}
        for name, info in infos.items():
            problem = _size_problem(info, specs[name].size_limit if name in specs else MAX_MEMBER_BYTES)
            if problem:
                raise ModelFileError(f"{where}: member {name} {problem}")
        try:
            manifest = parsed_json(_read_member(archive, infos[MANIFEST], where))
        except ValueError as exc:
            raise ModelFileError(f"{where}: {MANIFEST} is not a model manifest: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != fmt:
            raise ModelFileError(f"{where}: not a detector {kind} (manifest format is "
                                 f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r})")
        if manifest.get("manifest_sha256") != manifest_digest(manifest):
            raise ModelFileError(f"{where}: {MANIFEST} does not match its own sha256 "
                                 "(the manifest was edited or damaged after the model was saved)")
        if manifest.get("format_version") != version:
            raise ModelFileError(f"{where}: format version {manifest.get('format_version')!r}; this detector "
                                 f"reads version {version} (refit the model or use the detector that wrote it)")
        listed = manifest.get("members")
        if not isinstance(listed, dict) or set(listed) != set(expected):
            raise ModelFileError(f"{where}: manifest lists members "
                                 f"{sorted(listed) if isinstance(listed, dict) else listed!r}; "
                                 f"expected {sorted(expected)}")
        extra = set(infos) - set(expected) - {MANIFEST}
        if extra:
            raise ModelFileError(f"{where}: unexpected member(s) {', '.join(sorted(extra))}")
        data = {}
        for name in sorted(expected):
            if name not in infos:
                raise ModelFileError(f"{where}: member {name} is missing")
            content = _read_member(archive, infos[name], where)
            if hashlib.sha256(content).hexdigest() != listed[name]:
                raise ModelFileError(f"{where}: member {name} does not match its sha256 in the manifest "
                                     "(the file was changed or damaged after it was saved)")
            try:
                data[name] = expected[name].parse(content)
            except (ValueError, TypeError) as exc:
                raise ModelFileError(f"{where}: member {name} is malformed: {exc}") from None
    return manifest, data


def _directory_problem(path: Path) -> str | None:
    """What the zip's end record says is too big for a model, or None.

    Read before :mod:`zipfile` parses the directory, which costs memory per listed
    member; None also when there is no end record (zipfile then says the file is no zip).
    """
    with open(path, "rb") as stream:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(max(0, size - 22 - 0xFFFF))  # the end record, then at most a 64 KiB comment
        tail = stream.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    members = int.from_bytes(tail[at + 10:at + 12], "little")
    directory = int.from_bytes(tail[at + 12:at + 16], "little")
    if members > MAX_MEMBERS or directory > MAX_DIRECTORY_BYTES:
        return (f"the archive lists {members:,} members in a {directory:,}-byte directory; a model has at most "
                f"{MAX_MEMBERS} members in {MAX_DIRECTORY_BYTES:,} bytes")
    return None


def _size_problem(info: zipfile.ZipInfo, limit: int) -> str | None:
    """What is wrong with a member's sizes in the zip directory, or None.

    zipfile never returns more than the directory's uncompressed size (it checks the
    CRC at the end), so checking it bounds what reading the member costs.
    """
    size, packed = info.file_size, info.compress_size
    if size > limit:
        return f"is {size:,} bytes uncompressed, more than the {limit:,} it holds in a model"
    if size > RATIO_FLOOR and size > MAX_RATIO * packed:
        return (f"expands {size // max(packed, 1):,} times ({packed:,} to {size:,} bytes); model data expands "
                f"at most {MAX_RATIO} times (a zip bomb, not a model)")
    return None


def parsed_json(data: bytes):
    """JSON as a model file holds it: no NaN or Infinity, nested at most :data:`MAX_JSON_DEPTH` deep.

    Raises ValueError otherwise: json.loads recurses once per level and would fail
    with a RecursionError on a few hundred bytes of brackets.
    """
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than the {MAX_JSON_DEPTH} levels model data has") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than the {MAX_JSON_DEPTH} levels model data has")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a model holds")


def _depth(value) -> int:
    """How deeply lists and objects nest in ``value`` (a number or text is 0), level by
    level without recursion; stops counting past :data:`MAX_JSON_DEPTH`."""
    depth, level = 0, [value]
    while depth <= MAX_JSON_DEPTH:
        containers = [item for item in level if isinstance(item, (dict, list))]
        if not containers:
            break
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def tree_problem(offsets: np.ndarray, left: np.ndarray, right: np.ndarray, leaf: np.ndarray,
                 feature: np.ndarray, n_features: int, trees: int, nodes_per_tree: int) -> str | None:
    """What is wrong with trees stored as concatenated node arrays, or None.

    ``offsets`` bound each tree's nodes; children are tree-local indices. A compiled
    tree walker trusts these indices, so before one reads a file's trees every child
    must point forward (no loop) and inside its own tree, and every split must use one
    of the ``n_features`` features. The model's parameters bound the rest: at most
    ``trees`` trees of at most ``nodes_per_tree`` nodes, as fitting makes them.
    """
    size = len(left)
    if offsets.ndim != 1 or len(offsets) < 2 or offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) < 1):
        return "tree offsets do not cover the node arrays"
    if len(offsets) - 1 > trees or np.any(np.diff(offsets) > nodes_per_tree):
        return (f"{len(offsets) - 1:,} trees of up to {int(np.diff(offsets).max()):,} nodes; the model's parameters "
                f"allow {trees:,} trees of {nodes_per_tree:,}")
    node = np.arange(size)
    tree_start = np.repeat(offsets[:-1], np.diff(offsets))
    tree_stop = np.repeat(offsets[1:], np.diff(offsets))
    for child in (left, right):
        if np.any(~leaf & ((child <= node - tree_start) | (child >= tree_stop - tree_start))):
            return "a child index points outside its tree or backwards"
    if np.any(~leaf & ((feature < 0) | (feature >= n_features))):
        return f"a split uses a feature outside the {n_features} listed"
    return None


def manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest without its own checksum: catches an edited manifest."""
    return hashlib.sha256(json_bytes({k: v for k, v in manifest.items() if k != "manifest_sha256"})).hexdigest()


def json_bytes(value) -> bytes:
    """Canonical JSON (sorted keys, no NaN), so the same content gives the same bytes."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy(data: bytes, dtype, most: int) -> np.ndarray:
    """A 1-d array of ``dtype`` with at most ``most`` entries from ``.npy`` bytes.

    The header is checked before any array is made: its format version, the dtype (so
    an object array is never even considered), one dimension, a length of at most
    ``most`` and exactly the bytes that follow it; a header claiming terabytes is
    refused without numpy allocating them.
    """
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f".npy format version {version[0]}.{version[1]}; model arrays are 1.0 or 2.0")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, found = read_header(stream, max_header_size=_MAX_NPY_HEADER)
    if found != np.dtype(dtype):
        raise ValueError(f"array of {found}, expected {np.dtype(dtype)}")
    if len(shape) != 1:
        raise ValueError(f"array of {len(shape)} dimensions {shape}, expected 1")
    length, held = shape[0], len(data) - stream.tell()
    if length > most:
        raise ValueError(f"array of {length:,} entries, more than the {most:,} a model holds")
    if length * found.itemsize != held:
        raise ValueError(f"header says {length:,} entries of {found.itemsize} bytes, but {held:,} bytes follow")
    return np.frombuffer(data, dtype=found, count=length, offset=stream.tell()).copy()


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(f"{where}: member {info.filename} cannot be read: {exc}") from None
