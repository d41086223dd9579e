"""Model files: hostile files are refused in one line, before anything big is read.

Each hostile file is a real small model tampered with, its sha256 re-signed wherever
the format allows, so what refuses it is the bound on sizes and shapes, not the checksum.
"""

import hashlib
import io
import json
import struct
import zipfile

import numpy as np
import pytest

import detector
from detector.anomaly import AnomalyModel
from detector.modelfile import (
    MAX_MEMBERS,
    MAX_RATIO,
    RATIO_FLOOR,
    Array,
    Json,
    ModelFileError,
    json_bytes,
    manifest_digest,
    read_model,
    write_model,
)
from detector.supervised import SupervisedModel
from detector.synthetic import generate
from tests.conftest import frame

LOADERS = {"anomaly": AnomalyModel, "supervised": SupervisedModel}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small saved model of each kind: 10 isolation trees, 20 boosted trees."""
    folder = tmp_path_factory.mktemp("models")
    history = detector.load_declarations(generate(600, seed=3)).table
    anomaly = AnomalyModel.fit(history, trees=10, seed=1).save(folder / "anomaly.zip")
    rows = [{"declaration_id": str(i), "hs_code": "8504401000", "declared_value": "500", "gross_weight_kg": "11",
             "net_weight_kg": "" if i % 5 == 0 else "10", "exporter": f"E{i % 7}", "consignee": "Beta"}
            for i in range(200)]
    labels = [int(i % 5 == 0) for i in range(200)]
    supervised = SupervisedModel.fit(detector.load_declarations(frame(rows)), labels, seed=0, max_iter=20)
    return {"anomaly": anomaly, "supervised": supervised.save(folder / "supervised.zip")}


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def signed(members: dict[str, bytes], edit_manifest=None) -> dict[str, bytes]:
    """Recompute every member's sha256 and the manifest's own, as a careful forger would."""
    manifest = json.loads(members["manifest.json"])
    manifest["members"] = {name: hashlib.sha256(members[name]).hexdigest() for name in manifest["members"]}
    if edit_manifest is not None:
        edit_manifest(manifest)
    manifest["manifest_sha256"] = manifest_digest(manifest)
    return {**members, "manifest.json": json_bytes(manifest)}


def zipped(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_claiming(shape, dtype, data: bytes) -> bytes:
    """An .npy header that claims ``shape`` in front of the bytes of another array."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                  "shape": shape})
    header = buffer.getvalue()
    return header + data[len(header):]


def refused(kind: str, path, message: str) -> str:
    """Load ``path`` as ``kind``, expect one ModelFileError line matching ``message``."""
    with pytest.raises(ModelFileError, match=message) as error:
        LOADERS[kind].load(path)
    text = str(error.value)
    assert str(path) in text and "\n" not in text and isinstance(error.value, detector.DetectorError)
    return text


@pytest.mark.parametrize("kind, member", [("anomaly", "trees/threshold.npy"), ("supervised", "trees/value.npy"),
                                          ("anomaly", "training_strangeness.npy")])
def test_a_zero_dimensional_array_is_refused(saved, tmp_path, kind, member):
    """Before: a 0-d threshold or value array crashed the load with TypeError
    'len() of unsized object'."""
    files = members(saved[kind])
    files[member] = npy(np.float64(1.0))
    path = zipped(tmp_path / "zero-d.zip", signed(files))
    refused(kind, path, rf"member {member} is malformed: array of 0 dimensions \(\), expected 1")


@pytest.mark.parametrize("kind", ["anomaly", "supervised"])
def test_an_array_header_claiming_8_tib_is_refused_before_numpy_allocates(saved, tmp_path, kind):
    """Before: np.load believed the header and raised MemoryError 'Unable to allocate
    8.00 TiB' (on a machine that overcommits it could start filling the pages)."""
    files = members(saved[kind])
    files["trees/left.npy"] = npy_claiming((1 << 40,), np.int64, files["trees/left.npy"])
    path = zipped(tmp_path / "terabytes.zip", signed(files))
    refused(kind, path, r"member trees/left.npy is malformed: array of 1,099,511,627,776 entries, more than the")


def test_an_array_header_claiming_more_entries_than_its_bytes_hold_is_refused(saved, tmp_path):
    files = members(saved["anomaly"])
    held = len(np.load(io.BytesIO(files["trees/left.npy"])))
    files["trees/left.npy"] = npy_claiming((held + 1000,), np.int64, files["trees/left.npy"])
    refused("anomaly", zipped(tmp_path / "short.zip", signed(files)),
            rf"header says {held + 1000:,} entries of 8 bytes, but {held * 8:,} bytes follow")


def test_a_few_hundred_bytes_of_nested_json_are_refused(tmp_path):
    """Before: a 338-byte zip whose manifest nests 100,000 brackets crashed the load
    with RecursionError."""
    path = zipped(tmp_path / "nested.zip", {"manifest.json": b"[" * 100_000 + b"]" * 100_000})
    assert path.stat().st_size < 1000
    for kind in LOADERS:
        refused(kind, path, "manifest.json is not a model manifest: nested deeper than the 16 levels")


@pytest.mark.parametrize("kind, member, depth", [("anomaly", "statistics.json", 100_000),
                                                 ("supervised", "encoders.json", 100_000),
                                                 ("supervised", "encoders.json", 200)])
def test_nested_json_in_a_signed_member_is_refused(saved, tmp_path, kind, member, depth):
    """Before: statistics.json or encoders.json nested 100,000 deep (checksums
    re-signed) crashed the load with RecursionError."""
    files = members(saved[kind])
    files[member] = b"[" * depth + b"]" * depth
    refused(kind, zipped(tmp_path / "nested.zip", signed(files)), f"member {member} is malformed: nested deeper")


@pytest.mark.parametrize("kind, trees", [("anomaly", 10), ("supervised", 20)])
def test_more_trees_than_the_model_parameters_say_are_refused(saved, tmp_path, kind, trees):
    """Before: the trees of a small model copied 3 times over (sha256 re-signed) loaded;
    the same copies 10,000 times over make a 9.5 MB file that loads into 4.5 GB."""
    files = members(saved[kind])
    offsets = np.load(io.BytesIO(files["trees/offsets.npy"]))
    for name in [n for n in files if n.startswith("trees/") and n != "trees/offsets.npy"]:
        files[name] = npy(np.tile(np.load(io.BytesIO(files[name])), 3))
    files["trees/offsets.npy"] = npy(np.concatenate([[0], np.cumsum(np.tile(np.diff(offsets), 3))]))
    refused(kind, zipped(tmp_path / "copies.zip", signed(files)),
            rf"{3 * trees} trees of up to \d+ nodes; the model's parameters allow {trees} trees")


def test_a_forest_copied_until_it_deflates_like_a_bomb_is_refused(saved, tmp_path):
    """Before: one tree copied 3,000 times, with the manifest re-signed to say 3,000
    trees, loaded; copies deflate hundreds of times over, so a small file held a forest
    of gigabytes."""
    files = members(saved["anomaly"])
    offsets = np.load(io.BytesIO(files["trees/offsets.npy"]))
    first = int(offsets[1])
    for name in [n for n in files if n.startswith("trees/") and n != "trees/offsets.npy"]:
        files[name] = npy(np.tile(np.load(io.BytesIO(files[name]))[:first], 3000))
    files["trees/offsets.npy"] = npy(np.arange(3001, dtype=np.int64) * first)
    path = zipped(tmp_path / "bomb.zip", signed(files, lambda m: m["params"].update(trees=3000)))
    refused("anomaly", path, rf"member trees/\w+.npy expands [\d,]+ times .*; model data expands at most {MAX_RATIO}")


@pytest.mark.parametrize("kind, params, message", [
    ("anomaly", {"trees": 20_000}, "trees must be a whole number from 1 to 10,000, got 20000"),
    ("anomaly", {"trees": 10, "max_samples": 300_000}, "10 trees of 300,000 rows draw 3,000,000 rows"),
    ("supervised", {"max_iter": 20, "max_leaf_nodes": 200_000}, "20 trees of 200,000 leaves hold 4,000,000"),
])
def test_model_parameters_beyond_the_bounds_of_a_fit_are_refused(saved, tmp_path, kind, params, message):
    """Before: parameters no fit can make (20,000 trees) loaded, so they could not
    bound the trees a file holds."""
    files = signed(members(saved[kind]), lambda m: m["params"].update(params))
    refused(kind, zipped(tmp_path / "params.zip", files), message)


def test_a_member_size_claimed_in_the_zip_directory_is_refused_before_reading(saved, tmp_path):
    """Before: a directory saying trees/left.npy holds 100 MB passed (only sizes over
    1 GiB were refused); now each member is held to what its kind holds, before any read."""
    path = zipped(tmp_path / "claim.zip", members(saved["anomaly"]))
    data = bytearray(path.read_bytes())
    header = data.index(b"trees/left.npy", data.index(b"PK\x01\x02")) - 46  # directory entry, 46 bytes before its name
    data[header + 24:header + 28] = struct.pack("<I", 100_000_000)
    path.write_bytes(bytes(data))
    refused("anomaly", path, r"member trees/left.npy is 100,000,000 bytes uncompressed, more than the [\d,]+ it holds")


def test_an_archive_listing_thousands_of_members_is_refused_before_zipfile_reads_them(saved, tmp_path):
    """Before: 5,000 extra members were parsed by zipfile and every name was listed in
    one error line."""
    files = {**members(saved["anomaly"]), **{f"x{i}": b"" for i in range(5000)}}
    path = zipped(tmp_path / "many.zip", files)
    text = refused("anomaly", path, f"the archive lists 5,009 members .*; a model has at most {MAX_MEMBERS} members")
    assert len(text) < 300


def test_a_member_that_would_deflate_like_a_bomb_is_stored_and_loads_again(tmp_path):
    """What write_model writes, read_model reads: an array of zeros above the ratio
    floor is stored uncompressed instead of being refused at load."""
    zeros = np.zeros(2 * RATIO_FLOOR, dtype=np.uint8)
    members_ = {"zeros.npy": npy(zeros), "small.json": json_bytes({"a": [1, 2]})}
    path = write_model(tmp_path / "m.zip", "test-model", 1, {}, members_)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("zeros.npy").compress_type == zipfile.ZIP_STORED
        assert archive.getinfo("small.json").compress_type == zipfile.ZIP_DEFLATED
    _, data = read_model(path, "test-model", 1, {"zeros.npy": Array(np.uint8), "small.json": Json()})
    assert np.array_equal(data["zeros.npy"], zeros) and data["small.json"] == {"a": [1, 2]}
