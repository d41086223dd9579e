#!/usr/bin/env python
"""End-to-end speed and memory of ``detector score`` against the cost of plain CSV I/O.

One run of this script:

1. builds a realistic N-row declarations CSV in the canonical columns, column-wise with
   numpy from a fixed seed (a few thousand exporters and consignees, ceramic raw
   materials, machinery, electronics, lubricants, rare-earth lines, vague and varied
   descriptions, about 2 % of rows shaped like the smuggling patterns the rule packs
   target, and a few bad cells), written with ``pyarrow.csv.write_csv``;
2. measures the *floor*: reading that file with ``pyarrow.csv.read_csv`` (every column
   as text, as the detector reads it) plus writing the same table back with
   ``pyarrow.csv.write_csv``, best of 2;
3. runs ``detector score FILE -o OUT.csv --quiet`` in a subprocess, timing it and
   taking its peak resident memory;
4. prints one table with the ratio detector/floor and the verdict against the targets.

Why the floor is read + write with pyarrow: ``detector score`` must parse every cell of
the input and write every input row back with its added columns, so no scorer can be
faster than reading and writing the file. pyarrow's multi-threaded C++ CSV reader and
writer are the fastest way to do that from Python, so their time is the floor; the
detector's time as a multiple of it says how much the scoring itself costs, and unlike
seconds it carries over between machines.

Peak memory is measured from a small launcher process, not from this script: on Linux a
child's ``ru_maxrss`` starts from the resident size of the process that forked it, so
forking the detector from this script, which has just built the whole table, would
count that table against the detector.

Targets: detector/floor <= 3.0 and peak memory < 2.5 GiB. Missing a target is a finding,
not an error: the script exits 0 whenever it could measure, and 1 only when the
detector itself fails.

Usage::

    python benchmarks/bench_score.py                  # 1,000,000 rows in a temp dir
    python benchmarks/bench_score.py --rows 100000 --workdir /tmp/bench --keep
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

SEED = 20251129
TARGET_RATIO = 3.0
TARGET_PEAK_MIB = 2.5 * 1024
SMUGGLING_SHARE = 0.02  # of all rows
BAD_CELL_SHARE = 1 / 5000  # of all rows, per kind of bad cell
MIB = 1024 * 1024

COLUMNS = (
    "declaration_id", "declaration_date", "direction", "exporter", "consignee", "declarant",
    "origin_country", "export_country", "destination_country", "hs_code", "description",
    "remarks", "quantity", "quantity_unit", "gross_weight_kg", "net_weight_kg", "declared_value",
    "currency", "transport_mode", "package_type", "package_count", "license_number",
)


class Product(NamedTuple):
    """One line of the synthetic trade: what typical declarations of it look like."""

    hs_code: str
    share: float  # relative frequency among legitimate rows
    usd_per_kg: float  # median unit price
    unit: str  # quantity_unit
    kg_per_unit: float  # net kg per unit of quantity
    package_type: str  # usual UN/ECE Rec 21 code
    kg_per_package: float
    median_kg: float  # median net weight of one declaration
    descriptions: tuple[str, ...]


CATALOG = (
    # ceramic raw materials and tiles
    Product("2507002000", 3.0, 0.25, "kg", 1, "BG", 1000, 20000,
            ("washed kaolin", "kaolin clay for ceramic body", "china clay, calcined", "kaolin")),
    Product("2508400000", 2.0, 0.15, "kg", 1, "BG", 1000, 24000,
            ("ball clay", "bentonite clay", "refractory clay", "clay")),
    Product("2529100000", 2.0, 0.20, "kg", 1, "BG", 1000, 22000,
            ("potash feldspar powder", "sodium feldspar", "feldspar for ceramic glaze")),
    Product("3207100000", 2.0, 4.0, "kg", 1, "DR", 25, 800,
            ("ceramic glaze stain", "prepared pigment for ceramic glaze", "zirconium yellow stain",
             "praseodymium yellow glaze stain", "black ceramic pigment")),
    Product("3207200000", 1.5, 1.2, "kg", 1, "BG", 25, 5000,
            ("transparent glaze frit", "ceramic frit", "matt glaze")),
    Product("6907210000", 5.0, 0.7, "m2", 20, "PX", 1000, 20000,
            ("porcelain floor tiles 600x600", "glazed ceramic wall tiles", "unglazed ceramic tiles",
             "polished porcelain tiles 800x800", "ceramic mosaic tiles")),
    # machinery
    Product("8483109000", 5.0, 12, "pcs", 8, "CT", 40, 1500,
            ("transmission shaft", "crankshaft for diesel engine", "machinery parts", "gearbox shaft",
             "drive shaft for excavator")),
    Product("8483409000", 3.0, 10, "pcs", 15, "CT", 60, 1200,
            ("gear reducer", "ball screw assembly", "worm gearbox", "spare parts")),
    Product("8481804090", 5.0, 20, "pcs", 3, "CT", 30, 800,
            ("stainless steel ball valve", "solenoid valve 24V", "check valve DN50", "valve parts",
             "gate valve")),
    # electronics
    Product("8517620000", 5.0, 60, "pcs", 1.5, "CT", 12, 300,
            ("network switch", "wifi router", "ethernet switch 24 port", "optical network terminal")),
    Product("8517130000", 4.0, 150, "pcs", 0.4, "CT", 10, 200,
            ("smartphones", "mobile phones", "5G smartphone 128GB")),
    Product("8471300000", 4.0, 80, "pcs", 2.5, "CT", 15, 400,
            ("laptop computers", "notebook pc", "portable computer 14 inch")),
    Product("8471500000", 2.0, 40, "pcs", 8, "CT", 20, 500,
            ("server", "industrial computer", "processing units")),
    # lubricants
    Product("2710198000", 3.0, 1.5, "l", 0.88, "DR", 180, 15000,
            ("lubricating oil SAE 15W-40", "hydraulic oil 46", "base oil", "gear oil 80W-90")),
    Product("3403990000", 2.0, 3.0, "kg", 1, "DR", 180, 3000,
            ("lubricating grease", "lubricant preparation", "metalworking fluid", "mould release agent")),
    # rare earths and magnets (legitimate, licensed trade)
    Product("2805301200", 0.1, 350, "kg", 1, "DR", 50, 200,
            ("dysprosium metal", "dysprosium metal lumps 99.9%")),
    Product("2846901920", 0.2, 45, "kg", 1, "DR", 50, 500,
            ("erbium oxide", "erbium oxide powder 99.99%")),
    Product("8505111000", 1.0, 50, "kg", 1, "CT", 20, 400,
            ("NdFeB magnets", "sintered neodymium magnets", "permanent magnets", "magnet blocks N52")),
    # cover-name goods, traded honestly
    Product("7504001000", 0.3, 25, "kg", 1, "DR", 50, 300, ("nickel powder", "nickel alloy powder")),
    Product("2821100000", 0.5, 1.0, "kg", 1, "BG", 25, 8000, ("iron oxide pigment", "iron oxide red")),
    # everything else
    Product("0901210000", 1.0, 6, "kg", 1, "BG", 60, 15000, ("roasted coffee beans", "coffee")),
    Product("0306170000", 1.0, 8, "kg", 1, "CT", 10, 12000, ("frozen shrimp", "frozen vannamei shrimp")),
    Product("0804502000", 0.8, 1.5, "kg", 1, "CT", 10, 10000, ("fresh mangoes", "mango")),
    Product("6109100000", 4.0, 15, "pcs", 0.2, "CT", 15, 2000, ("cotton t-shirts", "men's knitted t-shirts")),
    Product("6402990000", 3.0, 12, "pcs", 0.8, "CT", 12, 3000, ("sports shoes", "rubber sole footwear")),
    Product("9403600000", 3.0, 3, "pcs", 25, "PK", 30, 5000, ("wooden furniture", "office desks", "chairs")),
    Product("3926909090", 4.0, 4, "kg", 1, "CT", 20, 2000, ("plastic articles", "plastic storage boxes", "goods")),
    Product("7318159000", 3.0, 3, "kg", 1, "CT", 25, 5000, ("steel bolts", "hex bolts M12", "screws and bolts")),
    Product("8708299000", 4.0, 8, "pcs", 5, "CT", 30, 3000, ("auto parts", "car body parts", "bumper")),
    Product("8544492100", 3.0, 6, "m", 0.1, "DR", 300, 4000, ("electric cable", "copper wire cable 3x2.5")),
    Product("3004900000", 1.0, 60, "kg", 1, "CT", 10, 500, ("medicaments", "pharmaceutical tablets")),
    Product("7208510000", 2.0, 0.6, "kg", 1, "PE", 5000, 100000, ("hot rolled steel plate", "steel plates")),
    Product("3907610000", 2.0, 1.1, "kg", 1, "BG", 1000, 25000, ("PET resin", "polyethylene terephthalate chips")),
    Product("8418102000", 2.0, 4, "pcs", 60, "CT", 65, 6000, ("refrigerators", "household fridge")),
    Product("8528720000", 2.0, 10, "pcs", 15, "CT", 18, 4000, ("LED TV 55 inch", "television sets")),
    Product("9503000090", 3.0, 6, "pcs", 0.5, "CT", 10, 2500, ("toys", "plastic toys", "educational toys")),
    Product("4011100000", 2.0, 3, "pcs", 9, "PX", 900, 12000, ("passenger car tyres", "radial tyres")),
)

CITIES_CN = ("Ganzhou", "Baotou", "Xiamen", "Foshan", "Ningbo", "Shenzhen", "Dongguan", "Suzhou",
             "Wuxi", "Qingdao", "Tianjin", "Changsha", "Jingdezhen", "Zibo", "Yiwu", "Wenzhou",
             "Hefei", "Chengdu", "Xian", "Harbin", "Dalian", "Fuzhou", "Nanchang", "Guangzhou",
             "Shanghai", "Hangzhou", "Jinan", "Zhengzhou", "Kunming", "Nanning")
TRADES_CN = ("Rare Earth", "Magnet", "Ceramics", "Tile Works", "Glaze", "Mining", "Machinery",
             "Valve", "Electronics", "Petrochemical", "Lubricant", "Textile", "Footwear", "Furniture",
             "Auto Parts", "Steel", "Plastics", "Toys", "Cable", "Import Export", "Trading",
             "Hardware", "New Material", "Technology", "Industrial")
SUFFIXES_CN = ("Co Ltd", "Co., Ltd.", "Group", "Industrial Co", "Trading Co", "Technology Co Ltd")
NAMES_FOREIGN = ("Atlas", "Nordic", "Pacific", "Meridian", "Summit", "Orion", "Delta", "Sierra",
                 "Aurora", "Vertex", "Harbor", "Evergreen", "Pioneer", "Global", "Union", "Golden",
                 "Saigon", "Bangkok", "Rhein", "Lombardi", "Osaka", "Busan", "Mumbai", "Dubai",
                 "Texas", "Baltic", "Andes", "Sahara", "Coral", "Falcon", "Phoenix", "Lotus")
TRADES_FOREIGN = ("Ceramics", "Tile", "Motors", "Electronics", "Components", "Hydraulics",
                  "Magnetics", "Oil", "Lubricants", "Retail", "Apparel", "Foods", "Steel",
                  "Logistics", "Freight", "Trading", "Imports", "Distribution", "Industries",
                  "Materials", "Holdings", "Free Zone Trading")
SUFFIXES_FOREIGN = ("Ltd", "LLC", "GmbH", "SpA", "Inc", "Pte Ltd", "Co", "JSC", "FZE", "BV", "SA")

DESTINATIONS = {"US": 18, "DE": 8, "JP": 8, "KR": 7, "VN": 8, "HK": 6, "TH": 4, "IN": 5, "NL": 4,
                "IT": 3, "MY": 4, "SG": 3, "AU": 3, "GB": 4, "FR": 3, "RU": 4, "BR": 3, "MX": 3,
                "AE": 3, "TR": 2}
IMPORT_ORIGINS = {"AU": 10, "BR": 8, "DE": 10, "JP": 10, "KR": 10, "US": 12, "VN": 8, "MY": 5,
                  "ID": 6, "TH": 5, "ZA": 4, "CL": 4, "HK": 4, "SG": 4}
USD_PER_UNIT = {"USD": 1.0, "EUR": 1.16, "CNY": 0.141343}
CURRENCY_SHARES = {"USD": 80, "EUR": 8, "CNY": 12}
GRADES = (" (grade A)", " (new)", " (OEM)", " for industrial use", ", bulk", " (export packing)",
          ", assorted sizes", " - sample lot")
REMARKS = ("FOB Shanghai", "CIF", "EXW", "FOB Ningbo", "urgent shipment", "sample for approval",
           "partial shipment", "as per contract", "repeat order")
SMUGGLING_PATTERNS = ("ceramic", "cover_name", "origin", "bottles", "splitting", "no_licence",
                      "re_words")


def weighted(rng: np.random.Generator, choices: dict[str, float], size: int) -> np.ndarray:
    """``size`` draws from ``choices`` (value -> weight), as an object array of str."""
    values = np.array(list(choices), dtype=object)
    weights = np.array(list(choices.values()), dtype=float)
    return values[rng.choice(len(values), size=size, p=weights / weights.sum())]


def pick(rng: np.random.Generator, values, size: int) -> np.ndarray:
    """``size`` uniform draws from ``values``, as an object array."""
    return np.asarray(values, dtype=object)[rng.integers(0, len(values), size)]


def company_names(rng: np.random.Generator, first, trades, suffixes, count: int) -> np.ndarray:
    """``count`` distinct made-up company names (a pool; rows draw from it)."""
    combos = len(first) * len(trades) * len(suffixes)
    chosen = rng.choice(combos, size=min(count, combos), replace=False)
    a, rest = np.divmod(chosen, len(trades) * len(suffixes))
    b, c = np.divmod(rest, len(suffixes))
    return np.array([f"{first[i]} {trades[j]} {suffixes[k]}" for i, j, k in zip(a, b, c)], dtype=object)


def popular(rng: np.random.Generator, pool: np.ndarray, size: int) -> np.ndarray:
    """Draws from ``pool`` with a long-tailed (Zipf-like) popularity, as in real trade."""
    weights = 1.0 / (np.arange(len(pool)) + 10.0) ** 1.1
    return pool[rng.choice(len(pool), size=size, p=weights / weights.sum())]


def as_text(values: np.ndarray, decimals: int | None = None) -> pa.Array:
    """Numbers as CSV text (rounded to ``decimals``), object arrays as-is."""
    if values.dtype == object:
        return pa.array(values, pa.string())
    array = pa.array(values)
    return (pc.round(array, decimals) if decimals is not None else array).cast(pa.string())


def build_declarations(n: int, seed: int = SEED) -> pa.Table:
    """A realistic table of ``n`` declarations, every column as text, built column-wise."""
    rng = np.random.default_rng(seed)
    shares = np.array([p.share for p in CATALOG])
    product = rng.choice(len(CATALOG), size=n, p=shares / shares.sum())

    def per_product(attribute: str) -> np.ndarray:
        return np.array([getattr(p, attribute) for p in CATALOG])[product]

    # Parties, direction and countries.
    exporters_cn = company_names(rng, CITIES_CN, TRADES_CN, SUFFIXES_CN, 3000)
    firms_foreign = company_names(rng, NAMES_FOREIGN, TRADES_FOREIGN, SUFFIXES_FOREIGN, 4000)
    export = rng.random(n) < 0.7
    cn_party, foreign_party = popular(rng, exporters_cn, n), popular(rng, firms_foreign, n)
    exporter = np.where(export, cn_party, foreign_party)
    consignee = np.where(export, foreign_party, cn_party)
    brokers = company_names(rng, CITIES_CN, ("Customs Brokers", "Declare", "Clearance", "Logistics"),
                            ("Co", "Co Ltd"), 150)
    declarant = popular(rng, brokers, n)
    foreign_country = weighted(rng, DESTINATIONS, n)
    import_origin = weighted(rng, IMPORT_ORIGINS, n)
    shipped_via = np.where(rng.random(n) < 0.9, import_origin, pick(rng, ("HK", "SG", "KR", "NL"), n))
    origin = np.where(export, "CN", import_origin).astype(object)
    export_country = np.where(export, "CN", shipped_via).astype(object)
    destination = np.where(export, foreign_country, "CN").astype(object)

    # Goods: code, description (a base phrase, often made specific), weights, value.
    hs_code = np.array([p.hs_code for p in CATALOG], dtype=object)[product]
    offsets = np.cumsum([0] + [len(p.descriptions) for p in CATALOG])
    flat_descriptions = np.array([d for p in CATALOG for d in p.descriptions], dtype=object)
    variant = (rng.random(n) * np.diff(offsets)[product]).astype(np.int64)
    base = pa.array(flat_descriptions[offsets[product] + variant], pa.string())
    model = pc.binary_join_element_wise(", model ", as_text(rng.integers(100, 60000, n)), "")
    kind = rng.random(n)
    suffix = pc.if_else(pa.array(kind < 0.25), model,
                        pa.array(np.where(kind > 0.85, pick(rng, GRADES, n), ""), pa.string()))
    description = pc.binary_join_element_wise(base, suffix, "").to_numpy(zero_copy_only=False)
    invoice = pc.binary_join_element_wise("invoice INV-", as_text(rng.integers(10000, 999999, n)), "")
    remark_kind = rng.random(n)
    remarks = np.where(remark_kind < 0.65, "",
                       np.where(remark_kind < 0.85, pick(rng, REMARKS, n),
                                invoice.to_numpy(zero_copy_only=False))).astype(object)

    net = np.round(rng.lognormal(np.log(per_product("median_kg")), 1.0), 2).clip(0.1)
    gross = np.round(net * rng.uniform(1.005, 1.12, n), 2)
    quantity = np.maximum(np.round(net / per_product("kg_per_unit")), 1.0)
    value_usd = net * per_product("usd_per_kg") * rng.lognormal(0.0, 0.35, n)
    currency = weighted(rng, CURRENCY_SHARES, n)
    package_type = np.where(rng.random(n) < 0.9, per_product("package_type"),
                            pick(rng, ("CT", "BG", "DR", "PK", "PX", "BX", "CS"), n)).astype(object)
    package_count = np.maximum(np.ceil(gross / per_product("kg_per_package") * rng.uniform(0.7, 1.3, n)), 1)
    mode = np.select(
        [net > 3000, net < 100],
        [weighted(rng, {"sea": 75, "rail": 10, "road": 15}, n),
         weighted(rng, {"air": 30, "express": 40, "post": 20, "road": 10}, n)],
        weighted(rng, {"sea": 50, "road": 25, "air": 15, "rail": 10}, n)).astype(object)
    licensed = np.isin(hs_code, ("2805301200", "2846901920", "8505111000")) & export
    license_number = np.where(licensed, pc.binary_join_element_wise(
        "LIC-2025-", as_text(rng.integers(100000, 999999, n)), "").to_numpy(zero_copy_only=False),
        "").astype(object)

    columns = {
        "declaration_id": np.arange(1, n + 1),
        "declaration_date": np.datetime64("2025-01-01") + rng.integers(0, 365, n),
        "direction": np.where(export, "export", "import").astype(object),
        "exporter": exporter, "consignee": consignee, "declarant": declarant,
        "origin_country": origin, "export_country": export_country,
        "destination_country": destination, "hs_code": hs_code, "description": description,
        "remarks": remarks, "quantity": quantity,
        "quantity_unit": per_product("unit").astype(object), "gross_weight_kg": gross,
        "net_weight_kg": net, "value_usd": value_usd, "currency": currency,
        "transport_mode": mode, "package_type": package_type, "package_count": package_count,
        "license_number": license_number,
    }
    add_smuggling(rng, columns, exporters_cn, firms_foreign)
    usd_per_unit = np.ones(n)
    for code, rate in USD_PER_UNIT.items():
        usd_per_unit[columns["currency"] == code] = rate
    columns["declared_value"] = np.round(columns.pop("value_usd") / usd_per_unit, 2)
    table = pa.table({
        "declaration_id": pc.binary_join_element_wise(
            "CN", pc.utf8_lpad(as_text(columns["declaration_id"]), 9, "0"), ""),
        "declaration_date": pa.array(columns["declaration_date"]).cast(pa.string()),
        **{name: as_text(columns[name], 2) for name in COLUMNS[2:]},
    })
    return add_bad_cells(rng, table)


def add_smuggling(rng: np.random.Generator, columns: dict[str, np.ndarray],
                  exporters_cn: np.ndarray, firms_foreign: np.ndarray) -> None:
    """Rewrite about 2 % of rows, in place, into the smuggling patterns of the rule packs."""
    n = len(columns["hs_code"])
    chosen = rng.choice(n, size=int(n * SMUGGLING_SHARE), replace=False)
    groups = dict(zip(SMUGGLING_PATTERNS, np.array_split(chosen, len(SMUGGLING_PATTERNS))))

    def put(rows: np.ndarray, **values) -> None:
        for name, value in values.items():
            columns[name][rows] = value

    def small_parcels(rows: np.ndarray, low_kg: float, high_kg: float, usd_per_kg: tuple[float, float]) -> None:
        net = np.round(rng.uniform(low_kg, high_kg, len(rows)), 2)
        put(rows, direction="export", origin_country="CN", export_country="CN", net_weight_kg=net,
            gross_weight_kg=np.round(net * 1.05 + 0.3, 2), quantity=np.maximum(np.round(net), 1),
            value_usd=net * rng.uniform(*usd_per_kg, len(rows)), currency="USD",
            transport_mode=pick(rng, ("post", "express"), len(rows)), license_number="",
            package_count=rng.integers(1, 4, len(rows)), exporter=pick(rng, exporters_cn, len(rows)),
            destination_country=pick(rng, list(DESTINATIONS), len(rows)))

    rows = groups["ceramic"]  # rare earths hidden in ceramic-tile ingredients
    small_parcels(rows, 2, 40, (80, 600))
    put(rows, hs_code=pick(rng, ("3207100000", "2507002000", "2529100000"), len(rows)),
        description=pick(rng, ("ceramic glaze stain", "kaolin", "feldspar powder",
                               "ceramic glaze with dysprosium oxide", "terbium oxide ceramic pigment"),
                         len(rows)),
        consignee=pick(rng, firms_foreign[np.char.find(firms_foreign.astype(str), "Logistics") >= 0],
                       len(rows)), package_type="BG", quantity_unit="kg")

    rows = groups["cover_name"]  # rare earths declared as nickel powder or iron oxide
    small_parcels(rows, 1, 30, (200, 900))
    put(rows, hs_code=pick(rng, ("7504001000", "2821100000"), len(rows)),
        description=pick(rng, ("nickel powder", "nickel alloy powder", "iron oxide"), len(rows)),
        package_type=pick(rng, ("PK", "BO", "CT"), len(rows)), quantity_unit="kg")

    rows = groups["origin"]  # "not originally made in China" on goods leaving China
    goods = rng.integers(0, 3, len(rows))
    put(rows, direction="export", export_country="CN", license_number="",
        origin_country=pick(rng, ("VN", "MY", "TH", "LA", "MM"), len(rows)),
        hs_code=np.array(("8505111000", "2846901920", "3207100000"), dtype=object)[goods],
        description=np.array(("NdFeB magnets", "erbium oxide", "ceramic glaze stain"), dtype=object)[goods],
        remarks=pick(rng, ("not originally made in China", "goods not made in China",
                           "non-Chinese origin, transshipment"), len(rows)))

    rows = groups["bottles"]  # powder in bottles declared as machinery parts
    small_parcels(rows, 1, 30, (20, 300))
    put(rows, hs_code=pick(rng, ("8483109000", "8481804090", "8483409000"), len(rows)),
        description=pick(rng, ("machinery parts", "spare parts", "machine parts", "valve parts"), len(rows)),
        package_type="BO", quantity_unit="pcs",
        remarks=pick(rng, ("", "", "packed in plastic bottles"), len(rows)))

    rows = groups["splitting"]  # one consignment split into many small parcels
    pairs = max(len(rows) // 40, 1)
    senders, receivers = pick(rng, exporters_cn, pairs), pick(rng, firms_foreign, pairs)
    pair = rng.integers(0, pairs, len(rows))
    small_parcels(rows, 0.5, 5, (60, 400))
    put(rows, hs_code=pick(rng, ("8505111000", "2846901920"), len(rows)),
        description=pick(rng, ("magnets", "NdFeB magnets", "rare earth oxide sample"), len(rows)),
        exporter=senders[pair], consignee=receivers[pair],
        declaration_date=np.datetime64("2025-06-01") + pair * 7 + rng.integers(0, 10, len(rows)),
        package_type="PK", quantity_unit="kg")

    rows = groups["no_licence"]  # controlled rare-earth lines exported without a licence
    goods = rng.integers(0, 2, len(rows))
    put(rows, direction="export", origin_country="CN", export_country="CN", license_number="",
        hs_code=np.array(("2805301200", "2846901920"), dtype=object)[goods],
        description=np.array(("dysprosium metal", "erbium oxide"), dtype=object)[goods])

    rows = groups["re_words"]  # rare-earth names under other codes
    put(rows, hs_code=pick(rng, ("2818200000", "2825900000", "7504001000", "8483109000"), len(rows)),
        description=pick(rng, ("neodymium oxide", "terbium metal powder", "dysprosium fluoride",
                               "yttrium oxide 99.99%", "mixed rare earth chloride"), len(rows)))


def add_bad_cells(rng: np.random.Generator, table: pa.Table) -> pa.Table:
    """Scatter typical keying errors, a few hundred per kind at a million rows."""
    n = table.num_rows
    bad = {
        "declaration_date": ("2025-02-30", "31/12/2025", "yesterday"),
        "net_weight_kg": ("n/a", "-5", "12,5"),
        "declared_value": ("USD 1200", "1.2.3", "-100"),
        "origin_country": ("XX", "Chna", "??"),
        "hs_code": ("84AB", "", "123"),
        "currency": ("US$", "RMB", "EURO"),
        "package_count": ("2.5", "many", "-1"),
        "transport_mode": ("boat", "courier?", "truck/sea"),
        "declaration_id": ("",),
    }
    for name, values in bad.items():
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=max(int(n * BAD_CELL_SHARE), 1), replace=False)] = True
        column = table.column(name).combine_chunks()
        replacements = pa.array(pick(rng, values, int(mask.sum())), pa.string())
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pc.replace_with_mask(column, pa.array(mask), replacements))
    return table


# ---------------------------------------------------------------------------- measuring


def header_of(path: Path) -> list[str]:
    """Column names from the first line of a CSV file."""
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def read_as_text(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a CSV with every column as text, with the options the detector's reader uses."""
    names = header_of(path)
    return pa_csv.read_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names}, include_columns=columns,
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def settle() -> None:
    """Flush written files to disk, so that the write-back of one step (generating the
    file, a floor run) does not slow down the next timed one."""
    os.sync()


def measure_floor(path: Path, scratch: Path, repeats: int = 2) -> tuple[float, float]:
    """Best read and best write seconds over ``repeats`` runs (``scratch`` is removed)."""
    reads, writes = [], []
    for _ in range(repeats):
        settle()
        start = time.perf_counter()
        table = read_as_text(path)
        reads.append(time.perf_counter() - start)
        settle()
        start = time.perf_counter()
        pa_csv.write_csv(table, scratch)
        writes.append(time.perf_counter() - start)
        del table
    scratch.unlink()
    return min(reads), min(writes)


# Run from a fresh, small interpreter so that the child's ru_maxrss is the scorer's own
# (see the module docstring). Prints JSON on stdout; the scorer's output goes to stderr.
_LAUNCHER = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=sys.stderr)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"returncode": code, "seconds": seconds, "peak_kib": peak_kib}))
"""


def detector_command() -> list[str]:
    """The ``detector`` console script of this interpreter, else ``python -m detector``."""
    script = Path(sys.executable).parent / "detector"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "detector"]


def run_detector(source: Path, output: Path) -> dict:
    """Time ``detector score`` and take its peak RSS; returns seconds, peak_kib, returncode, stderr."""
    command = [*detector_command(), "score", str(source), "-o", str(output), "--quiet"]
    settle()
    launched = subprocess.run([sys.executable, "-c", _LAUNCHER, *command],
                              capture_output=True, text=True, check=True)
    return {**json.loads(launched.stdout), "stderr": launched.stderr}


def output_matches(source: Path, output: Path) -> tuple[int, bool]:
    """Data rows of ``output``, and whether its declaration ids are the input's, in order."""
    ids_in = read_as_text(source, ["declaration_id"]).column(0)
    ids_out = read_as_text(output, ["declaration_id"]).column(0)
    return len(ids_out), len(ids_in) == len(ids_out) and ids_in.equals(ids_out)


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def report(rows: int, file_mib: float, read_s: float, write_s: float, run: dict,
           output_rows: int, same_order: bool) -> None:
    """Print the results table and the verdict against the targets."""
    floor = read_s + write_s
    ratio = run["seconds"] / floor
    peak_mib = run["peak_kib"] / 1024
    ratio_ok, memory_ok, rows_ok = ratio <= TARGET_RATIO, peak_mib < TARGET_PEAK_MIB, output_rows == rows
    lines = [
        ("rows", f"{rows:,}", ""),
        ("input file MB", f"{file_mib:,.1f}", ""),
        ("floor read s", f"{read_s:.2f}", "pyarrow read_csv, all text, best of 2"),
        ("floor write s", f"{write_s:.2f}", "pyarrow write_csv, best of 2"),
        ("floor total s", f"{floor:.2f}", ""),
        ("detector s", f"{run['seconds']:.2f}", "detector score -o OUT.csv --quiet"),
        ("detector / floor", f"{ratio:.2f}", f"target <= {TARGET_RATIO:.1f}   {verdict(ratio_ok)}"),
        ("rows per second", f"{rows / run['seconds']:,.0f}", ""),
        ("peak memory MB", f"{peak_mib:,.0f}", f"target < {TARGET_PEAK_MIB:,.0f}   {verdict(memory_ok)}"),
        ("output rows", f"{output_rows:,}",
         ("= input rows" if rows_ok else f"!= {rows:,} input rows")
         + (", same ids in the same order" if same_order else ", declaration ids differ")),
    ]
    print()
    for label, value, note in lines:
        print(f"{label:<18}{value:>12}   {note}".rstrip())
    failed = [name for name, ok in (("speed", ratio_ok), ("memory", memory_ok),
                                    ("output rows", rows_ok and same_order)) if not ok]
    print(f"{'verdict':<18}{verdict(not failed):>12}   "
          + (f"missed: {', '.join(failed)}" if failed else "all targets met"))
    print("(MB = MiB; 2.5 GiB = 2,560 MiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="declarations to generate (default: 1,000,000)")
    parser.add_argument("--workdir", type=Path, help="folder for the files (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated and scored files")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_score_"))
    workdir.mkdir(parents=True, exist_ok=True)
    source, output = workdir / "declarations.csv", workdir / "scored.csv"
    try:
        start = time.perf_counter()
        table = build_declarations(args.rows)
        pa_csv.write_csv(table, source)
        del table
        file_mib = source.stat().st_size / MIB
        print(f"generated {args.rows:,} rows: {source} ({file_mib:,.1f} MB) "
              f"in {time.perf_counter() - start:.1f} s")

        read_s, write_s = measure_floor(source, workdir / "floor_copy.csv")
        print(f"floor: read {read_s:.2f} s + write {write_s:.2f} s = {read_s + write_s:.2f} s")

        print(f"running: {' '.join(detector_command())} score {source.name} -o {output.name} --quiet")
        run = run_detector(source, output)
        if run["returncode"] != 0:
            print(f"detector failed with exit code {run['returncode']}:\n{run['stderr'][-3000:]}",
                  file=sys.stderr)
            return 1
        report(args.rows, file_mib, read_s, write_s, run, *output_matches(source, output))
    finally:
        if args.keep:
            print(f"kept files in {workdir}")
        elif args.workdir:
            for path in (source, output):
                path.unlink(missing_ok=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
