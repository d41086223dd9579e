"""HS codes are a hierarchy: a declared code falls under a listed line (``by: prefix``)
or, shorter than it, covers it (``by: covers``); reasons name the lines covered; the
shipped tables hold China's own national lines."""

from pathlib import Path

import pandas as pd
import pytest

import detector
from detector.errors import RulePackError
from detector.reference import load_reference
from detector.rules.parse import _RuleParser
from tests.rules.test_predicates import run_named

CONTROLS = (
    "hs_prefix,goods,coverage,valid_from,valid_to\n"
    "8505111000,rare-earth permanent magnets,content,2025-04-04,\n"
    "28469015,dysprosium oxide,line,2025-04-04,\n"
    "28469016,terbium oxide,line,2025-04-04,\n"
    "2846901920,erbium oxide,line,2026-11-10,\n"
    "2846901999,other rare-earth oxides,content,2025-04-04,\n"
)


run = run_named  # True / False / None (unknown) per row, and the values the condition named


@pytest.fixture
def controls(tmp_path):
    (tmp_path / "controls.csv").write_text(CONTROLS)
    return tmp_path


def lines(by, **more):
    return {"in_table": {"table": "controls", "match": {"hs_code": {"column": "hs_prefix", "by": by}}, **more}}


def test_six_and_eight_digit_codes_cover_a_ten_digit_line(controls):
    """Before: a 6- or 8-digit declaration of the controlled line 8505111000 (850511,
    85051110) never matched it, and there was no way to say "covers"; declarations
    carry 6, 8 or 10 digits."""
    rows = [{"hs_code": "850511"}, {"hs_code": "85051110"}, {"hs_code": "8505111000"}, {"hs_code": "850519"}]
    assert run(lines("covers"), rows, [controls])[0] == [True, True, False, False]
    assert run(lines("prefix"), rows, [controls])[0] == [False, False, True, False]


def test_a_longer_code_still_falls_under_a_shorter_line(controls):
    """Guards ``by: prefix`` as it was: 2846901500 and 28469015 fall under the 8-digit
    line 28469015, and a covering 284690 is not "under" it."""
    rows = [{"hs_code": "2846901500"}, {"hs_code": "28469015"}, {"hs_code": "284690"}, {"hs_code": "2846901100"}]
    assert run(lines("prefix"), rows, [controls])[0] == [True, True, False, False]
    assert run(lines("covers"), rows, [controls])[0] == [False, False, True, False]


def test_covering_respects_where_and_valid_on(controls):
    """Before ``by: covers`` existed nothing covered; it must filter lines as ``by:
    prefix`` does: 850511 covers only a content line (not a coverage line), and
    2846901 covers the erbium line only from 2026-11-10."""
    magnet = [{"hs_code": "850511", "declaration_date": "2025-06-01"}]
    assert run(lines("covers", where={"coverage": "line"}), magnet, [controls])[0] == [False]
    assert run(lines("covers", where={"coverage": "content"}), magnet, [controls])[0] == [True]
    erbium_only = lines("covers", where={"coverage": "line"}, valid_on="declaration_date")
    rows = [{"hs_code": "28469019", "declaration_date": "2025-06-01"},
            {"hs_code": "28469019", "declaration_date": "2026-12-01"},
            {"hs_code": "28469019", "declaration_date": ""}]
    assert run(erbium_only, rows, [controls])[0] == [False, True, True]


def test_the_reason_names_the_covered_lines_deterministically(controls):
    """Before: a reason could name no line a code covers (in_table stored nothing, and
    named values were only group totals). 284690 covers four lines here: the most
    specific come first, then by code, three at most and a count of the rest; the
    2026 erbium line is left out before its date; a row that covers nothing names
    nothing."""
    condition = lines("covers", valid_on="declaration_date", label="goods", **{"as": "covered"})
    rows = [{"hs_code": "284690", "declaration_date": "2025-06-01"},
            {"hs_code": "284690", "declaration_date": "2027-01-01"},
            {"hs_code": "850511", "declaration_date": "2025-06-01"},
            {"hs_code": "280530", "declaration_date": "2025-06-01"}]
    found, named = run(condition, rows, [controls])
    assert found == [True, True, True, False]
    assert named["covered"].iloc[0] == ("2846901999 (other rare-earth oxides); 28469015 (dysprosium oxide); "
                                        "28469016 (terbium oxide)")
    assert named["covered"].iloc[1] == ("2846901920 (erbium oxide); 2846901999 (other rare-earth oxides); "
                                        "28469015 (dysprosium oxide) and 1 more")
    assert named["covered"].iloc[2] == "8505111000 (rare-earth permanent magnets)"
    assert pd.isna(named["covered"].iloc[3])


PACK = """\
rules:
  - id: T-COVER-001
    title: covering code
    description: d
    pattern: p
    severity: high
    when:
      all:
        - in_table:
            table: controls
            match: {{hs_code: {{column: hs_prefix, by: {by}}}}}
            label: goods
            as: covered
        - missing: license_number
    reason: "HS {{hs_code}} covers the controlled line {{covered}}: ask for the national line"
    examples:
      hit: [{{hs_code: "850511"}}]
      miss: [{{hs_code: "8505111000"}}]
  - id: T-COVER-002
    title: the same lines, by prefix, in another rule
    description: d
    pattern: p
    severity: high
    when:
      in_table:
        table: controls
        match: {{hs_code: {{column: hs_prefix, by: prefix}}}}
        label: goods
        as: under
    reason: "HS {{hs_code}} is the line {{under}}"
    examples:
      hit: [{{hs_code: "8505111000"}}]
      miss: [{{hs_code: "850511"}}]
"""


def write(tmp_path: Path, by: str = "covers") -> Path:
    (tmp_path / "reference").mkdir(exist_ok=True)
    (tmp_path / "reference" / "controls.csv").write_text(CONTROLS)
    path = tmp_path / "pack.yaml"
    path.write_text(PACK.format(by=by))
    return path


def test_a_rule_reason_reads_the_covered_line(tmp_path):
    """Before: a rule could not say which line a covering code covers. The reason reads
    the text the predicate names, in every rule that names one (results naming values
    are not shared between rules), and the pack's own examples pass."""
    rules = detector.load_rules([write(tmp_path)], include_default=False)
    assert detector.run_examples(rules)["passed"].all()
    rows = pd.DataFrame([{"declaration_id": "1", "hs_code": "850511", "license_number": ""},
                         {"declaration_id": "2", "hs_code": "8505111000", "license_number": ""}])
    result = detector.score(detector.load_declarations(rows), rules, model=None).rule_results
    assert result.reasons["T-COVER-001"].tolist() == [
        "HS 850511 covers the controlled line 8505111000 (rare-earth permanent magnets): ask for the national line"]
    assert result.reasons["T-COVER-002"].tolist() == [
        "HS 8505111000 is the line 8505111000 (rare-earth permanent magnets)"]


@pytest.mark.parametrize("by", ["cover", "suffix", "Prefix"])
def test_a_bad_match_mode_names_the_rule_and_the_modes(tmp_path, by):
    """Before: a bad ``by:`` said only "expected a column name or {column: NAME, by:
    exact|prefix}", which neither says that ``by`` is wrong nor lists ``covers``."""
    path = write(tmp_path, by)
    path.write_text(path.read_text().replace("            label: goods\n            as: covered\n", ""))
    with pytest.raises(RulePackError) as error:
        detector.load_rules([path], include_default=False)
    assert str(error.value) == (
        f"{path}: rule T-COVER-001: when.all[0].in_table.match.hs_code.by: expected one of exact, prefix, "
        f"covers (exact: equal; prefix: the code falls under the line; covers: a shorter code covers the "
        f"line), got {by!r}")


def test_as_needs_a_hierarchy_and_label_needs_as(tmp_path):
    """``as`` names lines, so an exact-only match cannot name any; a ``label`` without
    ``as`` would be silently unused: both are refused at load time."""
    (tmp_path / "controls.csv").write_text(CONTROLS)
    parser = _RuleParser({}, "test.yaml", 1, (tmp_path,))
    with pytest.raises(RulePackError, match="match a field with by: prefix or by: covers"):
        parser.condition({"in_table": {"table": "controls", "match": {"hs_code": "hs_prefix"},
                                       "as": "covered"}}, "when")
    with pytest.raises(RulePackError, match="give 'as: NAME' too"):
        parser.condition({"in_table": {"table": "controls", "label": "goods",
                                       "match": {"hs_code": {"column": "hs_prefix", "by": "covers"}}}}, "when")
    with pytest.raises(RulePackError, match="lacks column"):
        parser.condition({"in_table": {"table": "controls", "label": "nothing", "as": "covered",
                                       "match": {"hs_code": {"column": "hs_prefix", "by": "covers"}}}}, "when")


# ------------------------------------------------------------ the shipped tables


def shipped(rows, **more):
    condition = {"in_table": {"table": "controlled_hs", "valid_on": "declaration_date",
                              "match": {"hs_code": {"column": "hs_prefix", "by": "prefix"}}, **more}}
    return run(condition, [{"declaration_date": "2025-06-01", **row} for row in rows])[0]


def test_chinas_own_oxide_chloride_fluoride_and_carbonate_lines_are_controlled_lines():
    """Before: controlled_hs had no line for dysprosium, terbium or yttrium oxide (China's
    28469015, 28469016, 28469011), none for their carbonates or for yttrium chloride
    and fluoride, so 2846901500 dysprosium oxide without a licence met no licence rule."""
    codes = ["2846901500", "28469016", "2846901100", "2846904200", "2846904300", "2846902600", "2846903600",
             "2846902910", "2846903910"]
    assert shipped([{"hs_code": code} for code in codes], where={"coverage": "line"}) == [True] * len(codes)
    assert shipped([{"hs_code": "2846901200"}, {"hs_code": "2846901300"}],
                   where={"coverage": "line"}) == [False, False]  # lanthanum, neodymium oxide: free


def test_covering_codes_meet_the_shipped_national_lines():
    """A 6-digit 284690 covers the controlled oxide lines and 850511 the rare-earth
    magnet line of the shipped table, which the reason names with its goods; the
    national line itself (28469015) falls under, it does not cover."""
    condition = {"in_table": {"table": "controlled_hs", "valid_on": "declaration_date", "label": "goods",
                              "as": "covered", "match": {"hs_code": {"column": "hs_prefix", "by": "covers"}}}}
    found, named = run(condition, [{"hs_code": code, "declaration_date": "2025-06-01"}
                                   for code in ("284690", "850511", "28469015")])
    assert found == [True, True, False]
    assert named["covered"].iloc[1] == "8505111000 (rare-earth permanent magnets (SmCo; NdFeB with Dy or Tb))"


def test_the_magnet_sub_lines_are_in_the_rare_earth_table():
    """Before: rare_earth_hs had 8505111000 but not its sibling 8505119000 (other metal
    magnets), so a reason could not tell what a covering 850511 leaves open."""
    rare_earth_hs = load_reference("rare_earth_hs")
    assert {"8505111000", "8505119000"} <= set(rare_earth_hs["hs_prefix"])
    assert rare_earth_hs.set_index("hs_prefix").loc["8505119000", "scope"] != "rare_earth"
