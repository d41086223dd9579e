"""The one normal form of text, and the phrase matcher every text predicate runs."""

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.text import PhraseMatcher, normalise

BUDGET = 20_000


@pytest.mark.parametrize("written, normal", [
    ("ＤＹ２Ｏ３　９９．９％", "dy2o3 99.9%"),          # full-width letters, digits, space
    ("Dy₂O₃", "dy2o3"),                                # subscript digits
    ("  Nd\u2013Fe\u2014B\u2212x ", "nd-fe-b-x"),      # dashes and minus, trimmed
    ("non\u00adchinese\u200b origin", "nonchinese origin"),  # invisible characters
    ("“not made in China”", '"not made in china"'),    # curly quotes
    ("稀 土\u3000永 磁", "稀土永磁"),                    # no spaces inside Chinese
    ("稀土 NdFeB", "稀土 ndfeb"),                       # but kept between scripts
    ("样品、配件。", "样品,配件."),                      # ideographic comma and full stop
    ("Parts\tNOT\nmade", "parts not made"),            # any white space, one space
])
def test_the_normal_form(written, normal):
    """Before: there was no normal form; each predicate lower-cased in its own way and
    none folded full-width forms, subscripts, dashes or Chinese spacing."""
    assert normalise(pd.Series([written])).tolist() == [normal]


def test_missing_stays_missing_and_index_is_kept():
    out = normalise(pd.Series(["A", None], index=[5, 7]))
    assert out.index.tolist() == [5, 7]
    assert out.iloc[0] == "a" and pd.isna(out.iloc[1])


@given(st.text(max_size=40))
def test_the_normal_form_is_stable(text):
    """Normalising twice changes nothing: tables written in the normal form stay
    matchable, and a normalised phrase is its own normal form."""
    once = normalise(pd.Series([text]))
    assert normalise(once).tolist() == once.tolist()


def matcher(phrases, **options):
    return PhraseMatcher.build(phrases, budget=BUDGET, **options)


def test_cjk_phrases_match_inside_text_and_latin_phrases_as_whole_words():
    """Before: every phrase needed a non-letter on both sides, which Chinese text
    never has."""
    texts = pd.Series(["高纯氧化镝粉末", "ndfeb磁铁", "ndfebx", "textile", "floor tile"])
    assert matcher(["氧化镝", "ndfeb", "tile"])(texts).tolist() == [True, True, False, False, True]


def test_a_misspelt_long_word_is_read_as_the_phrase_word():
    """Before: no typo was ever read."""
    texts = pd.Series(["dysprosuim oxide", "praseodynium", "neodimium", "dysprosium oxide", "holmium"])
    found = matcher(["dysprosium oxide", "praseodymium", "neodymium"], typos=True)(texts)
    assert found.tolist() == [True, True, True, True, False]


def test_known_words_are_never_read_as_typos():
    """Terbium is one edit from erbium: with 'terbium' known (another column of the
    table), a rule on erbium never reads terbium as erbium; short words are never
    read at all."""
    texts = pd.Series(["terbium", "erbiumm oxide", "cerium"])
    assert matcher(["erbium"], typos=True, known=["terbium"])(texts).tolist() == [False, False, False]
    assert matcher(["ytterbium"], typos=True)(pd.Series(["yterbium", "yttrium"])).tolist() == [True, False]


def test_an_ambiguous_typo_is_not_read():
    """A word one edit from two phrase words says neither."""
    assert matcher(["abcdefgh", "abcdefgj"], typos=True)(pd.Series(["abcdefgk"])).tolist() == [False]
