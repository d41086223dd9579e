"""Model files that are safe to share: a zip of JSON and ``.npy`` arrays, checksummed.

Analysts pass models around, so loading one must never run code from it: nothing here
unpickles (``np.load(..., allow_pickle=False)``, ``json.loads``), and every member's
sha256 is listed in ``manifest.json``, whose own sha256 covers the rest of the
manifest. The checksums catch damage and edits, not forgery (anyone can recompute
them); a crafted file is harmless because nothing read is executed and each model kind
checks the structure of its arrays before use. The same model gives the same bytes:
members are written in a fixed order with a fixed timestamp.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from detector.errors import DetectorError
from detector.io import atomic_file

MANIFEST = "manifest.json"
# A model member larger than this is refused before it is read (a zip bomb, not a model).
MAX_MEMBER_BYTES = 1 << 30


class ModelFileError(DetectorError):
    """A model file cannot be used: not a model, another format version, or tampered."""


def write_model(path: str | Path, fmt: str, version: int, fields: dict, members: dict[str, bytes]) -> Path:
    """Write ``members`` and a manifest (``fmt``, ``version``, ``fields``, checksums).

    Written to a temporary name and renamed (:func:`detector.io.atomic_file`), so a
    failed save leaves no half file.
    """
    path = Path(path)
    manifest = {"format": fmt, "format_version": version, **fields,
                "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}}
    manifest["manifest_sha256"] = manifest_digest(manifest)
    with atomic_file(path) as temporary, zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in {MANIFEST: json_bytes(manifest), **members}.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: same model, same bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def read_model(path: str | Path, fmt: str, version: int, expected: set[str],
               kind: str = "model") -> tuple[dict, dict[str, bytes]]:
    """The manifest and members of a file written by :func:`write_model`.

    Raises
    ------
    ModelFileError
        Not a zip, no manifest, another format (``kind`` names the expected one in the
        message) or format version, a manifest that does not match its sha256, a
        missing or unexpected member, or a member whose sha256 differs.
    """
    path = Path(path)
    where = f"model file {path}"
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ModelFileError(f"{where}: no such file") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{where}: not a detector model (not a zip archive: {exc})") from None
    with archive:
        infos = {info.filename: info for info in archive.infolist()}
        if MANIFEST not in infos:
            raise ModelFileError(f"{where}: not a detector model (no {MANIFEST} in the archive)")
        try:
            manifest = json.loads(_read_member(archive, infos[MANIFEST], where))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelFileError(f"{where}: {MANIFEST} is not valid JSON: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != fmt:
            raise ModelFileError(f"{where}: not a detector {kind} (manifest format is "
                                 f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r})")
        try:
            digest = manifest_digest(manifest)
        except ValueError as exc:  # NaN or Infinity: never written by write_model
            raise ModelFileError(f"{where}: {MANIFEST} holds a value a model never has: {exc}") from None
        if manifest.get("manifest_sha256") != digest:
            raise ModelFileError(f"{where}: {MANIFEST} does not match its own sha256 "
                                 "(the manifest was edited or damaged after the model was saved)")
        if manifest.get("format_version") != version:
            raise ModelFileError(f"{where}: format version {manifest.get('format_version')!r}; this detector "
                                 f"reads version {version} (refit the model or use the detector that wrote it)")
        listed = manifest.get("members")
        if not isinstance(listed, dict) or set(listed) != expected:
            raise ModelFileError(f"{where}: manifest lists members "
                                 f"{sorted(listed) if isinstance(listed, dict) else listed!r}; expected {sorted(expected)}")
        extra = set(infos) - expected - {MANIFEST}
        if extra:
            raise ModelFileError(f"{where}: unexpected member(s) {', '.join(sorted(extra))}")
        data = {}
        for name in sorted(expected):
            if name not in infos:
                raise ModelFileError(f"{where}: member {name} is missing")
            data[name] = _read_member(archive, infos[name], where)
            if hashlib.sha256(data[name]).hexdigest() != listed[name]:
                raise ModelFileError(f"{where}: member {name} does not match its sha256 in the manifest "
                                     "(the file was changed or damaged after it was saved)")
    return manifest, data


def tree_problem(offsets: np.ndarray, left: np.ndarray, right: np.ndarray, leaf: np.ndarray,
                 feature: np.ndarray, n_features: int) -> str | None:
    """What is wrong with trees stored as concatenated node arrays, or None.

    ``offsets`` bound each tree's nodes; children are tree-local indices. A compiled
    tree walker trusts these indices, so before one reads a file's trees every child
    must point forward (no loop) and inside its own tree, and every split must use one
    of the ``n_features`` features.
    """
    size = len(left)
    if offsets.ndim != 1 or len(offsets) < 2 or offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) < 1):
        return "tree offsets do not cover the node arrays"
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


def npy(data: bytes, dtype) -> np.ndarray:
    """An array from ``.npy`` bytes, refusing object arrays and any other dtype."""
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.dtype != np.dtype(dtype):
        raise ValueError(f"array of {array.dtype}, expected {np.dtype(dtype)}")
    return array


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    if info.file_size > MAX_MEMBER_BYTES:
        raise ModelFileError(f"{where}: member {info.filename} is {info.file_size} bytes, more than a model holds")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(f"{where}: member {info.filename} cannot be read: {exc}") from None
