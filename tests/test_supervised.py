"""The supervised model: learning fraud from inspection outcomes, its files and its blend."""

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest

import detector
from detector.anomaly import AnomalyModel
from detector.features import FEATURES_BY_NAME
from detector.modelfile import ModelFileError, json_bytes, manifest_digest
from detector.risk import risk_scores, rule_evidence
from detector.supervised import (
    _PAIR,
    FOLDS,
    MIN_LABELLED,
    SMOOTHING,
    SupervisedModel,
    labels_from_column,
    labels_from_outcomes,
    train_from_outcomes,
    train_supervised,
    training_summary,
)
from detector.synthetic import generate
from tests.conftest import frame

# Enough frauds in a small file for precision at 5% to be measured with some confidence.
FRAUD_RATE = 0.05


@dataclass
class World:
    history: detector.Declarations
    labels: np.ndarray
    history_hits: pd.DataFrame
    later: detector.Declarations
    later_labels: np.ndarray
    later_hits: pd.DataFrame
    rules: detector.RuleSet
    model: SupervisedModel


@pytest.fixture(scope="module")
def world():
    """A labelled synthetic year, a model fitted on it, and a later file to score."""
    rules = detector.load_rules()
    history_raw = generate(3000, seed=1, fraud_rate=FRAUD_RATE)
    later_raw = generate(2000, seed=2, fraud_rate=FRAUD_RATE, start=date(2026, 1, 1), days=60)
    history, later = detector.load_declarations(history_raw), detector.load_declarations(later_raw)
    history_hits = detector.score(history, rules, model=None).rule_results.hits
    later_hits = detector.score(later, rules, model=None).rule_results.hits
    labels = history_raw["label"].to_numpy(dtype=float)
    model = SupervisedModel.fit(history, labels, history_hits, seed=0)
    return World(history, labels, history_hits, later, later_raw["label"].to_numpy(), later_hits, rules, model)


def declarations(rows: list[dict]) -> detector.Declarations:
    """Hand-made rows, numbered, read as from a CSV."""
    return detector.load_declarations(frame([{"declaration_id": str(i + 1), **row} for i, row in enumerate(rows)]))


def shipment(**cells) -> dict:
    return {"hs_code": "8504401000", "declared_value": "500", "net_weight_kg": "10", "gross_weight_kg": "11",
            "exporter": "Acme", "consignee": "Beta", **cells}


def precision_at(scores: np.ndarray, labels: np.ndarray, percent: float = 5) -> float:
    """Share of frauds among the ``percent`` highest scores (ties in file order)."""
    top = np.argsort(-scores, kind="stable")[: int(len(scores) * percent / 100)]
    return float(np.mean(labels[top]))


def encoder(model: SupervisedModel, *columns: str):
    return next(e for e in model._encoders if e.columns == columns)


# ----------------------------------------------------------------------------- leakage


def test_shuffled_labels_find_later_frauds_at_chance_and_true_labels_far_above(world):
    base = world.later_labels.mean()
    learned = precision_at(world.model.predict(world.later, world.later_hits), world.later_labels)
    assert learned > 5 * base, (learned, base)
    # Labels that say nothing must teach nothing: pooled over three permutations so that
    # one lucky draw cannot pass or fail the test.
    found = []
    for seed in range(3):
        shuffled = np.random.default_rng(seed).permutation(world.labels)
        noise = SupervisedModel.fit(world.history, shuffled, world.history_hits, seed=0)
        found.append(precision_at(noise.predict(world.later, world.later_hits), world.later_labels))
    assert np.mean(found) < 2 * base, (found, base)


def test_a_rows_own_label_never_enters_its_own_encoding():
    from sklearn.metrics import roc_auc_score

    # Every exporter appears once and the label is a coin flip: the only thing that could
    # tell frauds apart is a row's own label read back through its exporter's fraud share.
    rng = np.random.default_rng(7)
    labels = (rng.random(400) < 0.3).astype(int)
    table = declarations([shipment(exporter=f"Exporter {i:04d}") for i in range(400)])
    model = SupervisedModel.fit(table, labels, seed=0)
    assert model.training["labelled"] == 400 and model.params["folds"] == FOLDS
    # Scored later, each exporter's share does carry its one inspection...
    share, seen = encoder(model, "exporter").encode(pd.Series([f"Exporter {i:04d}" for i in range(3)]))
    assert seen.tolist() == [1, 1, 1]
    assert share.tolist() == pytest.approx([(y + SMOOTHING * labels.mean()) / (1 + SMOOTHING) for y in labels[:3]])
    # ...but the trees never saw it during training, so they cannot have learned to read it.
    auc = roc_auc_score(labels, model.predict(table))
    assert auc < 0.65, auc


# ----------------------------------------------------------------------------- target encoding


def test_fraud_share_is_smoothed_towards_the_prior_and_counts_only_inspections():
    # Consignee A: 4 inspections, 3 frauds, and 2 rows never inspected (which must not count).
    rows = ([shipment(consignee="A")] * 6 + [shipment(consignee=f"C{i % 9}") for i in range(60)]
            + [shipment(consignee="")])
    labels = [1, 1, 1, 0, None, np.nan] + [1 if i % 10 == 0 else 0 for i in range(60)] + [0]
    model = SupervisedModel.fit(declarations(rows), labels, seed=0, max_iter=20)
    prior = (3 + 6) / (4 + 60 + 1)
    consignee = encoder(model, "consignee")
    assert consignee.prior == pytest.approx(prior)
    share, seen = consignee.encode(pd.Series(["A", "Never Seen", None], dtype="string"))
    assert share[0] == pytest.approx((3 + SMOOTHING * prior) / (4 + SMOOTHING))
    assert seen[0] == 4
    assert share[1] == pytest.approx(prior) and seen[1] == 0
    assert np.isnan(share[2]) and np.isnan(seen[2])
    # A pair of columns is encoded the same way.
    pair_share, pair_seen = encoder(model, "consignee", "hs6").encode(
        pd.Series([f"A{_PAIR}850440"], dtype="string"))
    assert pair_seen.tolist() == [4] and pair_share[0] == pytest.approx(share[0])
    # The scoring matrix carries the same numbers (inspections as log1p).
    new = declarations([shipment(consignee="A"), shipment(consignee="Never Seen"), shipment(consignee="")])
    matrix = pd.DataFrame(model.matrix(new), columns=model.columns)
    assert matrix["fraud_share:consignee"].iloc[:2].tolist() == pytest.approx([share[0], prior])
    assert matrix["inspections:consignee"].iloc[:2].tolist() == pytest.approx([np.log1p(4), 0.0])
    assert matrix[["fraud_share:consignee", "inspections:consignee"]].iloc[2].isna().all()


# ----------------------------------------------------------------------------- labels


def test_rows_not_inspected_are_left_out_of_training():
    rows = [shipment(consignee=f"C{i % 5}") for i in range(90)]
    labels = [np.nan, None, "", *([1, 0, 0, 0, 0, 0] * 10), *([np.nan] * 27)]
    model = SupervisedModel.fit(declarations(rows), labels, seed=0, max_iter=10)
    assert model.training["rows"] == 90
    assert model.training["labelled"] == 60 and model.training["frauds"] == 10
    assert sum(e.inspections.sum() for e in model._encoders if e.columns == ("consignee",)) == 60


@pytest.mark.parametrize("odd", [2, -1, 0.5, "2", "suspected"], ids=["two", "minus-one", "half", "text-two", "word"])
def test_labels_other_than_fraud_clean_or_empty_are_refused_not_read_as_not_inspected(odd):
    labels = [1, 0] * 30 + [odd]
    with pytest.raises(detector.DetectorError, match=r"row 61: .*expected 1 or fraud, 0 or clean, or empty"):
        SupervisedModel.fit(declarations([shipment()] * 61), labels)


def test_outcome_words_train_the_same_model_as_numbers():
    """One reader of labels: the words the outcome database and spreadsheets write
    train what 1 and 0 train (they were refused here while the report read them)."""
    table = declarations([shipment(consignee=f"C{i % 5}") for i in range(60)])
    numbers = SupervisedModel.fit(table, [1, 0, 0] * 20, seed=0, max_iter=10)
    words = SupervisedModel.fit(table, [" Fraud", "clean", "NO"] * 20, seed=0, max_iter=10)
    assert np.array_equal(numbers.predict(table), words.predict(table))


@pytest.mark.parametrize("labels, got", [
    ([1, 0] * ((MIN_LABELLED - 1) // 2) + [1] + [np.nan] * 20, f"got {MIN_LABELLED - 1} with"),
    ([0] * 80, "got 80 with 0 frauds"),
    ([1] * 80, "got 80 with 80 frauds"),
    ([np.nan] * 80, "got 0 with 0 frauds"),
], ids=["one-short", "all-clean", "all-fraud", "none-inspected"])
def test_too_few_inspections_or_a_single_outcome_are_refused(labels, got):
    table = declarations([shipment()] * len(labels))
    with pytest.raises(detector.DetectorError, match=rf"need at least {MIN_LABELLED} inspected declarations "
                                                     rf"with both frauds and clean ones.*{got}"):
        SupervisedModel.fit(table, labels)


def test_one_label_per_declaration_is_required():
    with pytest.raises(detector.DetectorError, match="59 labels for 60 declarations"):
        SupervisedModel.fit(declarations([shipment()] * 60), [1, 0] * 29 + [1])


@pytest.mark.parametrize("column, emptied", [
    ("office_id", lambda raw: raw.assign(office_id="")),
    ("origin_country", lambda raw: raw.drop(columns=["origin_country"]).assign(country_of_origin="XQ")),
], ids=["office-empty", "origin-by-alias-all-invalid"])
def test_an_encoded_column_empty_among_the_inspected_rows_encodes_to_the_prior(column, emptied):
    """Before: `detector train --labels` crashed with IndexError in the target encoder
    when an encoded column held no valid value among the labelled rows (an empty
    office_id, or a column picked up by alias whose codes are all invalid)."""
    rules = detector.load_rules()
    raw = generate(600, seed=5, fraud_rate=0.1)
    history = detector.load_declarations(emptied(raw))
    assert history.table[column].isna().all()
    hits = detector.score(history, rules, model=None).rule_results.hits
    labels = raw["label"].to_numpy(dtype=object)
    model = SupervisedModel.fit(history, labels, hits, seed=0, max_iter=20)
    learned = encoder(model, column)
    assert len(learned.frauds) == 0
    share, seen = learned.encode(pd.Series(["CN", "0101"], dtype="string"))  # values a later file holds
    assert np.allclose(share, learned.prior) and (seen == 0).all()
    said = model.explain(history, hits)
    named = {"office_id": "office", "origin_country": "origin "}[column]
    assert said.str.len().gt(0).any() and not said.str.contains(named).any()


@pytest.mark.parametrize("options, message", [
    (dict(seed=-1), "seed must be a whole number from 0 to 4,294,967,295, got -1"),
    (dict(seed=2 ** 32), "seed must be a whole number from 0 to 4,294,967,295"),
    (dict(max_iter=0), "max_iter must be a whole number from 1 to 10,000, got 0"),
    (dict(max_iter=10 ** 9), "max_iter must be a whole number from 1 to 10,000, got 1000000000"),
    (dict(max_iter=5000, max_leaf_nodes=1000), "5,000 trees of 1,000 leaves hold 5,000,000 leaves"),
    (dict(max_leaf_nodes=1), "max_leaf_nodes must be a whole number 2 or more, got 1"),
    (dict(learning_rate=float("nan")), "learning_rate must be a positive number, got nan"),
], ids=["seed-negative", "seed-too-big", "no-trees", "a-billion-trees", "too-many-leaves", "one-leaf",
        "learning-rate-nan"])
def test_fit_arguments_out_of_range_are_one_clear_error(options, message):
    """Before: scikit-learn refused them with a traceback of its own (seed -1, one leaf),
    or a billion trees were fitted until the machine gave out."""
    labels = [1, 0, 0, 0, 0] * 12
    with pytest.raises(detector.DetectorError, match=re.escape(message)):
        SupervisedModel.fit(declarations([shipment(exporter=f"E{i % 3}") for i in range(60)]), labels, **options)


# ----------------------------------------------------------------------------- determinism and files


def test_same_data_and_seed_give_the_same_model(world, tmp_path):
    again = SupervisedModel.fit(world.history, world.labels, world.history_hits, seed=0)
    expected = world.model.predict(world.later, world.later_hits)
    assert np.array_equal(again.predict(world.later, world.later_hits), expected)
    assert again.save(tmp_path / "a.zip").read_bytes() == world.model.save(tmp_path / "b.zip").read_bytes()
    # A row's probability depends on the rest of the file only through whether its
    # parties are new (seen on an earlier day of the file): rows whose parties appear
    # once in the file score the same alone, and the order of the rows does not count.
    table = world.later.table
    alone = (table["exporter"].map(table["exporter"].value_counts()) == 1) & \
        (table["consignee"].map(table["consignee"].value_counts()) == 1)
    rows = np.flatnonzero(alone.to_numpy())[::7]
    assert len(rows) > 5
    part = table.iloc[rows]
    assert np.array_equal(world.model.predict(part, world.later_hits.iloc[rows]), expected[rows])
    backwards = np.arange(len(table))[::-1]
    assert np.array_equal(world.model.predict(table.iloc[backwards], world.later_hits.iloc[backwards]),
                          expected[backwards])
    assert np.all((expected >= 0) & (expected <= 1))


def test_save_and_load_give_identical_predictions_and_explanations(world, tmp_path):
    model = world.model
    path = model.save(tmp_path / "supervised.zip")
    loaded = SupervisedModel.load(path)
    assert (loaded.columns, loaded.rules, loaded.training, loaded.params) == \
        (model.columns, model.rules, model.training, model.params)
    probability = model.predict(world.later, world.later_hits)
    assert np.array_equal(loaded.predict(world.later, world.later_hits), probability)
    top = np.argsort(-probability, kind="stable")[:15]
    assert loaded.explain(world.later, world.later_hits, rows=top).equals(
        model.explain(world.later, world.later_hits, rows=top))
    assert loaded.save(tmp_path / "again.zip").read_bytes() == path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "detector-supervised-model"
    assert manifest["training"]["labelled"] == len(world.labels)
    assert manifest["package_version"] == detector.__version__


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def flipped(member: str):
    """Damage: the last byte of one member changes, checksums are left as they were."""
    def change(members):
        data = members[member]
        members[member] = data[:-1] + bytes([data[-1] ^ 0x01])
    return change


def forged(member: str | None = None, edit_array=None, edit_manifest=None, content: bytes | None = None):
    """A deliberate edit whose checksums are recomputed, so only the structure checks can catch it."""
    def change(members):
        manifest = json.loads(members["manifest.json"])
        if member is not None:
            if edit_array is not None:
                array = np.load(io.BytesIO(members[member]), allow_pickle=False)
                edit_array(array, manifest)
                members[member] = _npy(array)
            else:
                members[member] = content
            manifest["members"][member] = hashlib.sha256(members[member]).hexdigest()
        if edit_manifest is not None:
            edit_manifest(manifest)
        manifest["manifest_sha256"] = manifest_digest(manifest)
        members["manifest.json"] = json_bytes(manifest)
    return change


def _point_left(target):
    def edit(left, manifest):
        split = int(np.flatnonzero(left >= 0)[1])  # the first tree's second split (its root is node 0)
        left[split] = target(split)
    return edit


def _split_on(feature_index):
    def edit(feature, manifest):
        feature[int(np.flatnonzero(feature >= 0)[0])] = feature_index(manifest)
    return edit


@pytest.mark.parametrize("change, message", [
    (flipped("trees/value.npy"), "member trees/value.npy does not match its sha256"),
    (flipped("encoders.json"), "member encoders.json does not match its sha256"),
    (forged("trees/left.npy", _point_left(lambda split: 10_000)), "a child index points outside its tree"),
    (forged("trees/left.npy", _point_left(lambda split: split - 1)), "points outside its tree or backwards"),
    (forged("trees/feature.npy", _split_on(lambda m: len(m["columns"]))), "a split uses a feature outside the"),
    (forged(edit_manifest=lambda m: m["features"].__setitem__(0, "colour")), r"unknown feature\(s\) colour"),
    (forged(edit_manifest=lambda m: m["columns"].reverse()), "column list does not match"),
    (forged(edit_manifest=lambda m: m["rules"].append("X-NEW-001")), "column list does not match"),
    (forged(edit_manifest=lambda m: m.update(format_version=2)), "format version 2"),
], ids=["flipped-tree-values", "flipped-encoders", "child-outside-tree", "child-backwards", "split-feature-outside",
        "unknown-feature-name", "columns-reordered", "rule-added", "format-version"])
def test_a_changed_model_file_is_refused(world, tmp_path, change, message):
    members = _members(world.model.save(tmp_path / "model.zip"))
    change(members)
    changed = _zip(tmp_path / "changed.zip", members)
    with pytest.raises(ModelFileError, match=message) as error:
        SupervisedModel.load(changed)
    assert str(changed) in str(error.value) and isinstance(error.value, detector.DetectorError)


def test_an_anomaly_model_file_is_refused(world, tmp_path):
    path = AnomalyModel.fit(world.history.table, trees=5, seed=0).save(tmp_path / "anomaly.zip")
    with pytest.raises(ModelFileError, match="not a detector supervised model"):
        SupervisedModel.load(path)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    noise = tmp_path / "noise.zip"
    noise.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        SupervisedModel.load(noise)
    with pytest.raises(ModelFileError, match="no such file"):
        SupervisedModel.load(tmp_path / "absent.zip")


def test_a_model_that_splits_on_missing_values_can_be_loaded_again(tmp_path):
    # The frauds are exactly the declarations without a net weight.
    rows = [shipment(net_weight_kg="" if i % 5 == 0 else "10", exporter=f"E{i % 7}") for i in range(200)]
    labels = [int(i % 5 == 0) for i in range(200)]
    table = declarations(rows)
    model = SupervisedModel.fit(table, labels, seed=0, max_iter=20)
    loaded = SupervisedModel.load(model.save(tmp_path / "model.zip"))
    assert np.array_equal(loaded.predict(table), model.predict(table))


def test_an_encoder_listing_a_value_twice_is_refused_at_load(world, tmp_path):
    members = _members(world.model.save(tmp_path / "model.zip"))
    encoders = json.loads(members["encoders.json"])
    first = encoders[0]
    first["values"].append(first["values"][0])
    first["frauds"].append(0.0)
    first["inspections"].append(1.0)
    forged("encoders.json", content=json_bytes(encoders))(members)
    changed = _zip(tmp_path / "changed.zip", members)
    with pytest.raises(ModelFileError):
        SupervisedModel.load(changed).predict(world.later, world.later_hits)


def test_a_manifest_holding_nan_is_refused_as_a_model_file_error(world, tmp_path):
    members = _members(world.model.save(tmp_path / "model.zip"))
    manifest = json.loads(members["manifest.json"])
    manifest["baseline"] = float("nan")
    members["manifest.json"] = json.dumps(manifest).encode()  # Python writes NaN; a reader must cope
    with pytest.raises(ModelFileError):
        SupervisedModel.load(_zip(tmp_path / "changed.zip", members))


# ----------------------------------------------------------------------------- explanations


# How an explanation names the column of a single-column fraud share.
_NAMED = {"exporter": "exporter", "consignee": "consignee", "declarant": "declarant", "office": "office_id",
          "origin": "origin_country", "leaving": "export_country", "by": "transport_mode",
          "packed in": "package_type", "HS": "hs"}
_SHARE = re.compile(rf"({'|'.join(_NAMED)}) (.+): (\d+) of (\d+) past inspections found fraud")


def test_high_probability_rows_are_explained_with_true_facts(world):
    model, later, hits = world.model, world.later, world.later_hits
    probability = model.predict(later, hits)
    top = np.argsort(-probability, kind="stable")[:10]
    assert probability[top].min() > 0.5
    reasons = model.explain(later, hits, rows=top)
    assert reasons.index.equals(later.table.index[top])
    words = tuple(f.words for f in FEATURES_BY_NAME.values())
    history = world.history.table
    checked = 0
    for text in reasons:
        phrases = text.split("; ")
        assert 1 <= len(phrases) <= 3, text
        concrete = [p for p in phrases if re.fullmatch(r"rule \S+ hit", p) or "past inspections found fraud" in p
                    or "never inspected before" in p or p.startswith(words)
                    or p.startswith("first declaration of ") or p.endswith(" before")]
        assert concrete, text
        for phrase in phrases:
            share = _SHARE.fullmatch(phrase)
            if share and " with " not in phrase:
                name, value, frauds, seen = share.groups()
                column = f"hs{len(value)}" if name == "HS" else _NAMED[name]
                past = world.labels[(history[column] == value).to_numpy()]
                assert (int(frauds), int(seen)) == (int(past.sum()), len(past)), phrase
                checked += 1
    assert checked, reasons.tolist()


def test_phrases_for_rules_shares_and_amounts_including_unknowns(world):
    model = world.model
    rows = world.later.table.iloc[:3].reset_index(drop=True).copy()
    rule = next(c for c in model.columns if c.startswith("rule:"))
    name = rule.partition(":")[2]
    assert model._phrases(rule, rows, np.array([np.nan, 1.0, 0.0])).to_pylist() == [
        f"rule {name} did not run", f"rule {name} hit", f"rule {name} did not hit"]
    share = next(c for c in model.columns if c.startswith("inspections:") and " x " not in c)
    column = share.partition(":")[2]
    rows.loc[0, column] = None
    said = model._phrases(share, rows, np.array([np.nan, 1.0, 2.0])).to_pylist()
    assert said[0].endswith(" unknown")
    assert all(p.endswith(("past inspections found fraud", "never inspected before")) for p in said[1:]), said
    assert model._phrases("log_value_usd", rows, np.log([12345.6, 50.0, np.nan])).to_pylist() == [
        "declared value 12,346 USD", "declared value 50 USD", "declared value unknown"]


def test_both_models_word_the_same_feature_of_the_same_row_alike(world):
    """Before: for the same row the anomaly model said "value per kg 0.08x the median
    for HS 850440" and the supervised model "value per kg 0.08x the median of its HS
    peers" (and "exporter never shipped HS 8504 before" against "exporter x HS4 seen 0
    times in the history"), so no feature read the same in both."""
    anomaly = AnomalyModel.fit(world.history, features=world.model.features, trees=50, seed=0)
    probability = world.model.predict(world.later, world.later_hits)
    rows = np.argsort(-probability, kind="stable")[:100]
    everything = len(world.model.columns)
    by_anomaly = anomaly.explain(world.later, rows=rows, top=len(anomaly.features))
    by_supervised = world.model.explain(world.later, world.later_hits, rows=rows, top=everything)
    shared = [phrase for a, s in zip(by_anomaly, by_supervised)
              for phrase in set(a.split("; ")) & set(s.split("; ")) if phrase and not phrase.endswith(" unknown")]
    # Peer ratios, pairings and parties: the features the two models used to word apart.
    worded_apart_before = [p for p in shared if " the median for HS " in p or p.endswith(" before")]
    assert len(worded_apart_before) >= 5, (shared, by_anomaly.tolist()[:5], by_supervised.tolist()[:5])


def test_path_contributions_add_up_to_each_rows_log_odds(world):
    trees = world.model._trees
    rows = np.arange(0, len(world.later), 199)
    matrix = world.model.matrix(world.later.table.iloc[rows], world.later_hits.iloc[rows])
    credit = trees.contributions(matrix)
    assert credit.shape == (len(rows), len(world.model.columns))
    np.testing.assert_allclose(credit.sum(axis=1) + trees.baseline, trees.raw(matrix), rtol=0, atol=1e-9)
    assert np.all(np.abs(credit).sum(axis=1) > 0)


def test_path_contributions_are_on_the_scale_of_the_prediction(world):
    # One tree of three leaves: whatever a split moves, it cannot move the prediction by
    # more than the distance between the tree's lowest and highest leaf.
    model = SupervisedModel.fit(world.history, world.labels, world.history_hits, seed=0, max_iter=1,
                                max_leaf_nodes=3)
    arrays = model._trees.arrays
    leaves = arrays["value"][arrays["leaf"] == 1]
    matrix = model.matrix(world.history, world.history_hits)
    credit = model._trees.contributions(matrix)
    assert np.abs(credit).max() <= leaves.max() - leaves.min() + 1e-12


# ----------------------------------------------------------------------------- blending into the risk


def test_score_blends_the_probability_into_the_risk(world):
    model, later = world.model, world.later
    blended = detector.score(later, world.rules, model=None, supervised=model)
    rules_only = detector.score(later, world.rules, model=None)
    out, before = blended.output, rules_only.output
    assert out.columns[-11:].tolist() == ["risk_score", "lane", "selection", "rule_hits", "reasons", "rule_score",
                                          "anomaly_score", "anomaly_percentile", "supervised_score", "status",
                                          "errors"]
    assert out["anomaly_score"].isna().all()
    p = model.predict(later, world.later_hits)
    assert np.array_equal(out["supervised_score"].to_numpy(), np.round(p, 4))
    assert np.array_equal(out["rule_score"].to_numpy(), before["risk_score"].to_numpy())
    # The rules' survival, unrounded, from the hits (one pattern and angle count once).
    policy = detector.RiskPolicy()
    evidence = rule_evidence(rules_only.rule_results, len(later.table), policy)
    np.testing.assert_allclose(evidence.rule_score(policy), before["risk_score"], atol=5e-5 + 1e-12)
    # Rules whose evidence is one angle only are held before the probability is blended in.
    rules_risk = np.where(risk_scores(evidence, policy).held, policy.single_angle_max, 1 - evidence.survival)
    expected = np.round(1 - (1 - p) * (1 - rules_risk) ** 0.25, 4)
    risk = out["risk_score"].to_numpy()
    assert np.abs(risk - expected).max() <= 1e-4 + 1e-12 and np.mean(risk == expected) > 0.99
    hit = before["risk_score"].to_numpy() > 0
    assert hit.sum() > 20 and np.all(risk[hit] >= np.round(p[hit], 4))
    assert np.array_equal(risk[~hit], np.round(p[~hit], 4))  # no rule hit: the probability alone
    # Flagged rows with something to say about the model say it.
    flagged = (out["lane"] != "green").to_numpy()
    told = out["reasons"].str.contains("[model] fraud probability ", regex=False).to_numpy()
    assert np.array_equal(told, flagged & (p >= 0.05))
    assert told.sum() >= 20


def test_explaining_one_scored_row_includes_the_model(world):
    result = detector.score(world.later, world.rules, model=None, supervised=world.model)
    p = world.model.predict(world.later, world.later_hits)
    row = int(np.argmax(p))
    assert result.output["lane"].iloc[row] != "green"
    evidence = result.explain(row)
    assert "model" in evidence["source"].tolist()
    model_row = evidence.set_index("source").loc["model"]
    assert model_row["weight"] == pytest.approx(p[row], abs=1e-12)
    assert model_row["title"] == f"fraud probability {min(round(p[row], 2), 0.99):.2f} from past inspections"
    reason = world.model.explain(world.later, world.later_hits, rows=[row]).iloc[0]
    assert model_row["reason"] == reason and reason
    assert reason in result.output["reasons"].iloc[row]
    assert evidence["weight"].is_monotonic_decreasing
    for rule_id in filter(None, result.output["rule_hits"].iloc[row].split(";")):
        assert rule_id in evidence["source"].tolist()


def test_rules_the_model_knows_but_that_did_not_run_are_missing(world):
    model, later = world.model, world.later
    assert len(model.rules) > 4
    kept = [r for r in world.rules if r.id not in model.rules[::2]]  # every other known rule left out
    scored = detector.score(later, detector.RuleSet(rules=kept), model=None, supervised=model)
    hits = scored.rule_results.hits
    assert not set(model.rules[::2]) & set(hits.columns)
    matrix = pd.DataFrame(model.matrix(later, hits), columns=model.columns)
    for rule_id in model.rules:
        column = matrix[f"rule:{rule_id}"]
        if rule_id in hits.columns:
            assert column.tolist() == hits[rule_id].astype(float).tolist()
        else:
            assert column.isna().all(), rule_id
    probability = scored.output["supervised_score"].to_numpy()
    assert np.all(np.isfinite(probability)) and np.all((probability >= 0) & (probability <= 1))
    assert np.array_equal(probability, np.round(model.predict(later, hits), 4))
    # A rule the model never heard of is not an input, and no hits at all still score.
    unknown = hits.assign(**{"X-UNKNOWN-001": True})
    assert np.array_equal(model.predict(later, unknown), model.predict(later, hits))
    assert np.all(np.isnan(model.matrix(later)[:, [model.columns.index(f"rule:{r}") for r in model.rules]]))
    assert np.all(np.isfinite(model.predict(later)))


# ----------------------------------------------------------------------------- training from a history


def test_labels_from_a_column_read_fraud_clean_and_not_inspected_and_name_the_columns_when_missing():
    """Guards `detector train --labels`: a missing column must list the columns found."""
    history = declarations([shipment(verdict="1"), shipment(verdict="0"), shipment(verdict="")])
    labels = labels_from_column(history, "verdict")
    assert labels[:2].tolist() == [1.0, 0.0] and np.isnan(labels[2])
    with pytest.raises(detector.DetectorError, match=r"no label column 'label'; columns found: declaration_id, "):
        labels_from_column(history, "label")


def test_labels_from_outcomes_follow_the_declaration_ids_and_leave_the_rest_not_inspected():
    history = declarations([shipment(), shipment(), shipment()])
    stored = pd.DataFrame({"declaration_id": ["3", "1", "99"], "result": ["clean", "fraud", "fraud"]})
    labels = labels_from_outcomes(history, stored)
    assert labels[0] == 1.0 and np.isnan(labels[1]) and labels[2] == 0.0


def test_train_supervised_learns_from_the_hits_scoring_gives_the_model(world):
    """The rule hits it learns from are those `score` computes, so the model equals one
    fitted on the scored hits."""
    model = train_supervised(world.history, world.labels, world.rules, seed=0)
    assert model.rules == list(world.history_hits.columns)
    assert np.array_equal(model.predict(world.later, world.later_hits),
                          world.model.predict(world.later, world.later_hits))


def test_training_from_the_outcome_database_or_a_column_is_one_call(world, tmp_path):
    """What `detector train --outcomes` and `--labels COLUMN` do, from a notebook: the
    same model as labels read by hand and passed in."""
    from detector.outcomes import OutcomeStore, outcomes_frame

    ids = world.history.table["declaration_id"]
    results = np.where(world.labels == 1, "fraud", "clean")
    inspections = pd.DataFrame({"declaration_id": ids, "inspected_on": "2025-06-01", "result": results})
    with OutcomeStore(tmp_path / "outcomes.sqlite") as store:
        store.add_outcomes(outcomes_frame(inspections, "inspections.csv"), "inspections.csv")
    from_store = train_from_outcomes(world.history, tmp_path / "outcomes.sqlite", world.rules, seed=0)
    from_column = train_supervised(world.history, "label", world.rules, seed=0)
    by_hand = train_supervised(world.history, world.labels, world.rules, seed=0)
    assert np.array_equal(from_store.predict(world.later, world.later_hits),
                          by_hand.predict(world.later, world.later_hits))
    assert np.array_equal(from_column.predict(world.later, world.later_hits),
                          by_hand.predict(world.later, world.later_hits))
    with pytest.raises(detector.DetectorError):
        train_from_outcomes(world.history, tmp_path / "none.sqlite", world.rules)


def test_training_summary_counts_rows_inspections_frauds_and_inputs(world):
    model = world.model
    encoded = len(model.columns) - len(model.rules) - len(model.features)
    assert training_summary(model, "history.csv") == (
        f"history.csv: 3,000 rows, 3,000 inspected, {int(world.labels.sum()):,} frauds; {len(model.columns)} "
        f"inputs ({len(model.rules)} rules, {len(model.features)} features, {encoded} from past inspections)")
