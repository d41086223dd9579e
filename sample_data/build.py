"""Rebuild the shipped sample data from the synthetic generator.

    python sample_data/build.py

One seeded stream of 15 months of declarations is split by date: the first twelve
months become ``history.csv.gz`` (for training), the last three ``declarations.csv``
(to score), so both come from the same exporters and consignees, as a real history
would. The split reads each date in whichever format the generator wrote it (a few are
planted typing errors such as 25/11/2025) and cuts the stream, which the generator
writes in date order, at the first row of the later period. ``partner_layout.csv``
shows the first rows of ``declarations.csv`` the way another customs system might
export them (its own column names, day-first dates, country names, dotted HS codes,
words for transport modes and packages); the mapping ``partner_layout.yaml`` reads it
back.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from detector.errors import DetectorError
from detector.io import write_table
from detector.reference import load_reference
from detector.synthetic import generate

HERE = Path(__file__).resolve().parent
SEED = 2025
ROWS = 120_000
START, DAYS = date(2025, 1, 1), 455
SPLIT = "2026-01-01"
# ISO, then the typing errors detector.synthetic plants: 14/03/2025, 2025/03/14, 20250314.
GENERATOR_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d", "%Y%m%d")
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
    first_current = split_position(read_dates(stream["declaration_date"]), SPLIT)
    history = stream.iloc[:first_current]
    current = stream.iloc[first_current:].reset_index(drop=True)
    write_table(history, HERE / "history.csv.gz.tmp.csv")
    _gzip(HERE / "history.csv.gz.tmp.csv", HERE / "history.csv.gz")
    write_table(current, HERE / "declarations.csv")
    write_table(partner_layout(current.head(PARTNER_ROWS)), HERE / "partner_layout.csv")
    print(f"history {len(history)} rows, declarations {len(current)} rows, partner layout {PARTNER_ROWS}")


def read_dates(written: pd.Series) -> pd.Series:
    """Each date read in the first of :data:`GENERATOR_DATE_FORMATS` it fits, NaT if none.

    Comparing the text instead misplaces the typo-dates: '25/11/2025' sorts after
    '2026-01-01' and '07/01/2026' before it.
    """
    dates = pd.Series(pd.NaT, index=written.index, dtype="datetime64[ns]")
    for date_format in GENERATOR_DATE_FORMATS:
        dates = dates.fillna(pd.to_datetime(written, format=date_format, errors="coerce"))
    return dates


def split_position(dates: pd.Series, first_day: str) -> int:
    """Position of the first row dated ``first_day`` or later in a stream in date order.

    The generator writes its rows sorted by their true date, so the periods are two runs
    of rows and a date readable in no format keeps its place among the rows of the days
    around it and goes with them (to the earlier period if it sits right between the
    last row of one and the first of the other).

    Raises
    ------
    DetectorError
        If the readable dates are out of order, so no single cut separates the periods.
    """
    readable = dates.dropna()
    if not readable.is_monotonic_increasing:
        behind = readable.index[(readable < readable.cummax()).to_numpy()][0]
        raise DetectorError(f"generated stream, row {behind}: declaration_date {dates[behind]:%Y-%m-%d} comes "
                            f"after a later date; expected rows in date order to split at {first_day}")
    later = (dates >= pd.Timestamp(first_day)).to_numpy()
    return int(np.argmax(later)) if later.any() else len(later)


def partner_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """The same declarations as another system writes them."""
    countries = load_reference("countries").set_index("alpha2")["name"]
    out = frame.copy()
    dates = pd.to_datetime(out["declaration_date"], format="%Y-%m-%d", errors="coerce")
    out["declaration_date"] = dates.dt.strftime("%d/%m/%Y").fillna(out["declaration_date"])
    for column in ("origin_country", "export_country", "destination_country"):
        out[column] = out[column].map(countries).fillna(out[column])
    # Dotted as 2846.90.19 whatever the length the generator wrote (6, 8 or 10 digits,
    # some already dotted or spaced).
    code = out["hs_code"].astype("str").str.replace(r"[.\s]", "", regex=True)
    out["hs_code"] = (code.str.slice(0, 4) + "." + code.str.slice(4, 6) + "." + code.str.slice(6)).str.rstrip(".")
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
