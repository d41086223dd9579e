"""Rebuild the shipped sample data from the synthetic generator.

    python sample_data/build.py

One seeded stream of 15 months of declarations is split by date: the first twelve
months become ``history.csv.gz`` (for training), the last three ``declarations.csv``
(to score), so both come from the same exporters and consignees, as a real history
would. ``partner_layout.csv`` shows the first rows of ``declarations.csv`` the way
another customs system might export them (its own column names, day-first dates,
country names, dotted HS codes, words for transport modes and packages); the mapping
``partner_layout.yaml`` reads it back.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from detector.io import write_table
from detector.reference import load_reference
from detector.synthetic import generate

HERE = Path(__file__).resolve().parent
SEED = 2025
ROWS = 120_000
START, DAYS = date(2025, 1, 1), 455
SPLIT = "2026-01-01"
PARTNER_ROWS = 2_000

# The partner system's column names for the canonical fields it exports.
PARTNER_COLUMNS = {
    "declaration_id": "Entry Number", "declaration_date": "Entry Date", "direction": "Flow",
    "exporter": "Shipper Name", "consignee": "Receiver", "declarant": "Filed By",
    "origin_country": "Made In", "export_country": "Dispatched From",
    "destination_country": "Final Destination", "hs_code": "Commodity", "description": "Goods",
    "remarks": "Notes", "quantity": "Qty", "quantity_unit": "Qty Unit", "gross_weight_kg": "Gross kg",
    "net_weight_kg": "Net kg", "declared_value": "Invoice Amount", "currency": "Invoice Currency",
    "transport_mode": "Carrier Type", "package_type": "Packing", "package_count": "Pieces",
    "license_number": "Permit", "label": "label", "pattern": "pattern",
}
MODE_WORDS = {"sea": "Ocean", "air": "Air Freight", "road": "Truck", "rail": "Railway",
              "post": "Mail", "express": "Courier", "other": "Other"}


def main() -> None:
    stream = generate(ROWS, seed=SEED, start=START, days=DAYS)
    history = stream[stream["declaration_date"] < SPLIT]
    current = stream[stream["declaration_date"] >= SPLIT].reset_index(drop=True)
    write_table(history, HERE / "history.csv.gz.tmp.csv")
    _gzip(HERE / "history.csv.gz.tmp.csv", HERE / "history.csv.gz")
    write_table(current, HERE / "declarations.csv")
    write_table(partner_layout(current.head(PARTNER_ROWS)), HERE / "partner_layout.csv")
    print(f"history {len(history)} rows, declarations {len(current)} rows, partner layout {PARTNER_ROWS}")


def partner_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """The same declarations as another system writes them."""
    countries = load_reference("countries").set_index("alpha2")["name"]
    out = frame.copy()
    dates = pd.to_datetime(out["declaration_date"], format="%Y-%m-%d", errors="coerce")
    out["declaration_date"] = dates.dt.strftime("%d/%m/%Y").fillna(out["declaration_date"])
    for column in ("origin_country", "export_country", "destination_country"):
        out[column] = out[column].map(countries).fillna(out[column])
    code = out["hs_code"].astype("str")
    out["hs_code"] = code.str.slice(0, 4) + "." + code.str.slice(4, 6) + "." + code.str.slice(6)
    out["transport_mode"] = out["transport_mode"].map(MODE_WORDS).fillna(out["transport_mode"])
    return out.rename(columns=PARTNER_COLUMNS)[list(PARTNER_COLUMNS.values())]


def _gzip(source: Path, target: Path) -> None:
    """Compress with a fixed timestamp so rebuilding gives identical bytes."""
    import gzip
    import shutil

    with source.open("rb") as plain, target.open("wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="history.csv") as packed:
        shutil.copyfileobj(plain, packed)
    source.unlink()


if __name__ == "__main__":
    main()
