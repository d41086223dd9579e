"""Text predicates on text as traders write it: Chinese without spaces, formulas, grades,
full-width forms, misspellings, and the shipped tables that hold those words."""

import pandas as pd
import pytest

from detector.derived import derive
from detector.reference import load_reference
from detector.rules.engine import evaluate_condition
from detector.rules.parse import _RuleParser
from detector.rules.predicates import Context, TableCache
from detector.schema import validate
from tests.conftest import frame
from tests.rules.test_hostile_packs import load_error, write_pack

NO18 = {"Sc", "Y", "Sm", "Gd", "Tb", "Dy", "Lu"}
NO57 = {"Ho", "Er", "Tm", "Eu", "Yb"}
RE_WORDS = {"keywords": {"fields": ["description", "remarks"], "table": "rare_earth_terms", "column": "term"}}
NO18_WORDS = {"keywords": {"fields": ["description", "remarks"], "table": "rare_earth_terms", "column": "no18_term"}}
NO57_WORDS = {"keywords": {"fields": ["description", "remarks"], "table": "rare_earth_terms", "column": "no57_term"}}
NO18_PATTERNS = {"regex": {"fields": ["description", "remarks"], "table": "rare_earth_patterns",
                           "column": "no18_pattern"}}


def run(condition, rows, reference_dirs=()):
    """Evaluate a YAML-shaped condition: True / False / None (unknown) per row."""
    parsed = _RuleParser({}, "test.yaml", 1, tuple(reference_dirs)).condition(condition, "when")
    data = derive(validate(frame(rows)).table)
    ctx = Context(TableCache(data), reference_dirs=tuple(reference_dirs), named={})
    ctx.evaluate = lambda c, t: evaluate_condition(c, t, ctx)
    return [None if pd.isna(v) else bool(v) for v in evaluate_condition(parsed, data, ctx)]


def descriptions(*texts):
    return [{"description": text} for text in texts]


def typos(condition):
    return {"keywords": {**condition["keywords"], "typos": True}}


# ------------------------------------------------------------------ Chinese and width


def test_chinese_phrase_inside_a_longer_chinese_text():
    """Before: 稀土, 氧化镝 and 非中国原产 were matched as whole words, so inside a
    Chinese sentence (no spaces) they never matched and the rows went green."""
    rows = descriptions("高纯氧化镝粉末", "稀土氧化物", "货物非中国原产，转口", "氧化铁")
    assert run(NO18_WORDS, rows) == [True, False, False, False]
    assert run(RE_WORDS, rows) == [True, True, False, False]
    disclaimer = {"keywords": {"fields": ["description"], "table": "origin_disclaimer_terms", "column": "phrase"}}
    assert run(disclaimer, rows) == [False, False, True, False]


def test_a_latin_word_next_to_chinese_is_a_whole_word():
    """Before: "NdFeB磁铁" held no whole word "ndfeb" (磁 is a letter), and Latin words
    inside longer Latin words must still not match."""
    rows = descriptions("NdFeB磁铁 N35", "ndfebx", "Dy2O3粉")
    assert run(RE_WORDS, rows) == [True, False, True]


def test_keywords_and_regex_read_the_same_full_width_text():
    """Before: keywords matched 'dy2o3' in ＤＹ２Ｏ３ only by luck of case folding, not
    the full-width digits, and regex searched the raw text: the two text predicates
    disagreed on the same cell. Both now read the one normal form."""
    rows = descriptions("ＤＹ２Ｏ３　９９．９％", "Dy₂O₃ powder", "iron oxide")
    assert run({"keywords": {"field": "description", "any": ["dy2o3"]}}, rows) == [True, True, False]
    assert run({"regex": {"field": "description", "pattern": r"\bdy2o3\b"}}, rows) == [True, True, False]
    assert run({"regex": {"field": "description", "pattern": r"99\.9%"}}, rows) == [True, False, False]


def test_equals_reads_the_normal_form_too():
    """Before: equals lower-cased only, so a description typed on a Chinese keyboard in
    full-width letters, or with a doubled space, was not the same text."""
    rows = descriptions("ＭＡＣＨＩＮＥＲＹ　ＰＡＲＴＳ", "Machinery  parts", "machinery parts x")
    assert run({"equals": {"field": "description", "value": "machinery parts"}}, rows) == [True, True, False]


# ------------------------------------------------------------------ formulas and grades


@pytest.mark.parametrize("text, no18", [
    ("SmCo5 magnets", True),
    ("Sm2Co17 rings", True),
    ("Tb-Dy-Fe rod", True),
    ("Dy 99.5% metal lumps", True),
    ("DyCl3 hexahydrate", True),
    ("N42SH arc segments", True),
    ("N45UH motor magnets", True),
    ("n38eh blocks", True),
    ("N35AH", True),
    ("Terfenol-D rods", True),
    ("N52 blocks", False),
    ("N42H discs", False),
    ("Nd2Fe14B powder", False),
    ("2TB hard drive", False),
    ("40Ah battery", False),
])
def test_formulas_grades_and_symbols_from_the_pattern_table(text, no18):
    """Before: formulas with digits (SmCo5, Sm2Co17), symbols in context (Tb-Dy-Fe,
    "Dy 99.5%") and magnet grades that need Dy or Tb (N42SH, N45UH, N38EH, AH) were
    matched by no rule, and nothing could read a table of patterns."""
    assert run(NO18_PATTERNS, descriptions(text)) == [no18]


def test_an_empty_remarks_cell_holds_no_rare_earth_word():
    """Before: keywords over description and remarks was unknown on every row without
    remarks, so "not rare-earth-like goods" (RE-ORIGIN-002) never hit such a row once
    the rare-earth words were read from the remarks too; the shipped sample lost three
    origin-disclaimer hits that way. Unknown now means every field is empty."""
    rows = [{"description": "rotor magnet assemblies", "remarks": ""},
            {"description": "", "remarks": "dysprosium oxide"}, {"description": "", "remarks": ""}]
    assert run(RE_WORDS, rows) == [False, True, None]
    assert run({"not": RE_WORDS}, rows) == [True, False, None]
    assert run({"not": NO18_PATTERNS}, rows) == [True, True, None]


def test_a_grade_in_the_remarks_is_read_too():
    """A rare-earth word only in the remarks: the rule reads both fields."""
    rows = [{"description": "magnets", "remarks": "grade N48SH, 1000 pcs"},
            {"description": "magnets", "remarks": "packed in cartons"}]
    assert run(NO18_PATTERNS, rows) == [True, False]


def test_every_pattern_example_matches_its_own_pattern():
    """A pattern row whose example it does not match is a pattern that does not work;
    and a pattern implying a No. 18 / No. 57 element is repeated in that column (only
    there), as the term table does."""
    table = load_reference("rare_earth_patterns")
    assert len(table) > 30
    for row in table.to_dict("records"):
        one = {"regex": {"field": "description", "pattern": row["pattern"]}}
        assert run(one, descriptions(row["example"], "iron oxide")) == [True, False], row
        elements = set(row["element"].split("|"))
        assert row["no18_pattern"] == (row["pattern"] if elements & NO18 else ""), row
        assert row["no57_pattern"] == (row["pattern"] if elements & NO57 else ""), row
        assert row["kind"] in {"formula", "grade", "symbol", "trade_name"} and row["source"], row


def test_a_bad_pattern_in_a_regex_table_fails_when_the_pack_loads(tmp_path):
    """Before: a regex could not read a table at all; now each cell is checked with
    compile_regex at load time, naming the file line, so scoring never meets it."""
    path = write_pack(tmp_path, "regex: {field: description, table: shapes, column: pattern}",
                      tables={"shapes": "pattern\n\\bsmco\\d\n(a)\\1\n"})
    message = load_error(path)
    assert "shapes.csv: line 3: pattern '(a)\\\\1'" in message
    assert "RE2 pattern" in message


def test_regex_takes_a_pattern_or_a_table_not_both(tmp_path):
    path = write_pack(tmp_path, "regex: {field: description, pattern: x, table: shapes, column: pattern}",
                      tables={"shapes": "pattern\nx\n"})
    assert "give either 'pattern: REGEX' or 'table:' with 'column:'" in load_error(path)


# ------------------------------------------------------------------ misspellings


def test_misspelt_element_names_with_typos():
    """Before: "dysprosuim", "neodimium" and "praseodynium" named no element, so the
    licence rules never saw a dysprosium export written with a typo."""
    rows = descriptions("Dysprosuim oxide 99.5%", "neodimium magnets", "praseodynium powder", "dysprosium")
    assert run(RE_WORDS, rows) == [False, False, False, True]
    assert run(typos(RE_WORDS), rows) == [True, True, True, True]
    assert run(typos(NO18_WORDS), rows) == [True, False, False, True]


def test_typos_never_swap_erbium_and_terbium():
    """Terbium (No. 18) is one edit from erbium (No. 57): a typo reading must never turn
    one into the other, in either column, nor touch short words."""
    rows = descriptions("terbium oxide", "erbium oxide", "terbiun oxide", "cerium oxide")
    assert run(typos(NO57_WORDS), rows) == [False, True, False, False]
    assert run(typos(NO18_WORDS), rows) == [True, False, True, False]


def test_typos_with_whole_text_matching_is_refused(tmp_path):
    path = write_pack(tmp_path, "keywords: {field: description, any: [machinery parts], match: whole, typos: true}")
    assert "leave typos out" in load_error(path)


# ------------------------------------------------------------------ shipped tables


@pytest.mark.parametrize("table, column", [
    ("rare_earth_terms", "term"), ("origin_disclaimer_terms", "phrase"), ("generic_descriptions", "description"),
    ("cover_names", "name"), ("ceramics_business_terms", "term"), ("consignee_red_flag_terms", "term"),
])
def test_every_shipped_phrase_is_found_in_itself(table, column):
    """A table phrase that its own text does not match (a stray character, a phrase
    the normal form changes) is a row that never works."""
    phrases = [p for p in load_reference(table)[column] if p]
    hits = run({"keywords": {"field": "description", "table": table, "column": column}}, descriptions(*phrases))
    assert all(hits), [p for p, hit in zip(phrases, hits) if not hit]


def test_single_character_chinese_element_names_stay_out_of_unrelated_words():
    """Single characters are matched inside any Chinese text, so only characters used for
    nothing but their element are listed; 鈥 and 鈧 (traditional holmium, scandium) are
    what UTF-8 curly quotes and the euro sign read as when decoded as GBK, so only
    their oxides are listed."""
    terms = load_reference("rare_earth_terms")["term"]
    singles = {t for t in terms if len(t) == 1}
    assert "镝" in singles and "铽" in singles
    assert not singles & {"鈥", "鈧"}
    garbled = "“nickel powder” € 5".encode("utf-8").decode("gbk", errors="replace")
    ordinary = ["机器零件", "陶瓷釉料", "氧化铁红", "不锈钢螺丝", "铜线", "塑料瓶", "电子元件", garbled]
    assert run(RE_WORDS, descriptions(*ordinary)) == [False] * len(ordinary)
