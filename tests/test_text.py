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


def test_party_keys_meet_four_spellings_of_one_exporter():
    """Before: a split series whose exporter was spelled four ways was four parties,
    and no group rule saw the series."""
    from detector.reference import load_reference
    from detector.text import party_key

    drop = load_reference("party_words")["word"].tolist()
    names = pd.Series(["Shenzhen Jiahe Trading Co., Ltd.", "SHENZHEN JIAHE TRADING CO LTD",
                       "Shenzhen Jia He Trade Co", "Shenzhen Jiahe Trading Co.,Ltd, Futian District",
                       "Arkona Trade s.r.o., Praha", "ARKONA TRADE SRO", None, "Shenzhen Jiahe Foods Co"], dtype="str")
    keys = party_key(names, drop)
    assert keys.iloc[:4].tolist() == ["jiahe"] * 4
    assert keys.iloc[4:6].tolist() == ["arkona"] * 2
    assert pd.isna(keys.iloc[6]) and keys.iloc[7] == "jiahefood"


def test_party_keys_meet_abbreviations_cities_and_accents_but_not_another_trade():
    """Before (a blind set's split series): "SZ Huaxin Elec. Material" and "Huaxin
    Electronic Material (Shenzhen) Co." were two exporters, "APEX ALLOY SOL. INC." and
    "Apex Alloys Inc" two consignees, "NINGBO RUIHE IMP & EXP CO LTD" kept its "ltd"
    and "Baltic Tech Supply OÜ" and "BALTIC TECH SUPPLY OU" differed by an accent; the
    series was never seen. A name of another trade ("Jiahe Foods") stays apart."""
    from detector.reference import load_reference
    from detector.text import party_key

    drop = load_reference("party_words")["word"].tolist()
    names = pd.Series(["Shenzhen Huaxin Electronic Material Co., Ltd", "SZ Huaxin Elec. Material",
                       "Huaxin Electronic Material (Shenzhen) Co.", "Shenzhen Hua Xin Electronic Material Co Ltd",
                       "Apex Alloy Solutions Inc., Fremont CA", "APEX ALLOY SOL. INC.", "Apex Alloys Inc",
                       "Ningbo Ruihe Import & Export Co., Ltd.", "NINGBO RUIHE IMP & EXP CO LTD", "Ningbo Ruihe I/E Co",
                       "Baltic Tech Supply OÜ", "BALTIC TECH SUPPLY OU", "Jiahe Trading", "Jiahe Foods"], dtype="str")
    keys = party_key(names, drop).tolist()
    assert len(set(keys[:4])) == 1 and len(set(keys[4:7])) == 1 and len(set(keys[7:10])) == 1
    assert keys[10] == keys[11] and keys[12] != keys[13]


def test_party_keys_meet_a_chinese_name_and_its_pinyin_spelling():
    """Before: 深圳市华鑫贸易有限公司 and "Shenzhen Huaxin Trading Co., Ltd" (one exporter,
    in characters on one declaration and in pinyin on the next) were two parties, so a
    split series written in both scripts was never seen. Traditional characters read
    the same; a name of another company stays apart."""
    from detector.reference import load_reference
    from detector.text import party_key

    drop = load_reference("party_words")["word"].tolist()
    names = pd.Series(["深圳市华鑫贸易有限公司", "Shenzhen Huaxin Trading Co., Ltd", "華鑫貿易有限公司",
                       "重庆长安实业有限公司", "Chongqing Changan Industrial Co.", "深圳市佳和食品有限公司"],
                      dtype="str")
    keys = party_key(names, drop).tolist()
    assert keys[:3] == ["huaxin"] * 3
    assert keys[3] == keys[4] == "changan"
    assert keys[5] not in ("huaxin", "changan")


def test_party_keys_read_pinyin_business_words_translations_and_word_order():
    """A blind set's split series: "Xin Rui Mao Yi (Ganzhou) Co." and "Ganzhou Xinrui
    Maoyi Youxian Gongsi" kept the pinyin of 贸易 and 有限公司; 深圳市寰宇电子材料 and
    "Huanyu Dianzi Cailiao" did not meet "Shenzhen Huanyu Electronic Material"; and
    "Kruger Metallhandel GmbH" did not meet "Metallhandel Krüger GmbH". A one-syllable
    word (市, shi) is not dropped in pinyin: it is a surname too."""
    from detector.reference import load_reference
    from detector.text import party_key

    drop = load_reference("party_words")["word"].tolist()
    translations = dict(load_reference("party_translations")[["word", "english"]].itertuples(index=False))
    names = pd.Series(["赣州鑫瑞贸易有限公司", "Xin Rui Mao Yi (Ganzhou) Co.", "Ganzhou Xinrui Maoyi Youxian Gongsi",
                       "深圳市寰宇电子材料有限公司", "Huanyu Dianzi Cailiao (Shenzhen)",
                       "Shenzhen Huanyu Electronic Materials Co., Ltd", "Metallhandel Krüger GmbH",
                       "Kruger Metallhandel GmbH, Hafenstrasse 12", "Shi Wei Trading", "Wei Trading"], dtype="str")
    keys = party_key(names, drop, translations).tolist()
    assert keys[:3] == ["xinrui"] * 3
    assert keys[3] == keys[4] == keys[5] == "huanyuelectronicmaterial"
    assert keys[6] == keys[7]
    assert keys[8] != keys[9]


def test_two_chinese_words_of_one_english_word_are_both_translated():
    """Before: the pinyin spellings were kept by English word, so 化学 (huaxue) hid
    化工 (huagong), both "chemical": "Xinhe Huagong" did not meet 新禾化工."""
    from detector.reference import load_reference
    from detector.text import party_key

    drop = load_reference("party_words")["word"].tolist()
    translations = dict(load_reference("party_translations")[["word", "english"]].itertuples(index=False))
    names = pd.Series(["Xinhe Huagong Co., Ltd", "新禾化工有限公司", "Xinhe Huaxue Co", "Xinhe Chemical Co"],
                      dtype="str")
    assert party_key(names, drop, translations).tolist() == ["xinhechemical"] * 4


def test_a_series_of_small_packets_under_name_variants_reaches_yellow():
    """Before: four sub-2 kg EMS parcels whose parties were written in variants were
    never seen as a split, and the rows stayed green."""
    import detector

    rows = pd.DataFrame({
        "declaration_id": ["1", "2", "3", "4"],
        "declaration_date": ["2025-06-03", "2025-06-04", "2025-06-05", "2025-06-07"],
        "exporter": ["Shenzhen Jiahe Trading Co., Ltd.", "SHENZHEN JIAHE TRADING CO LTD",
                     "Shenzhen Jia He Trade Co", "Shenzhen Jiahe Trading Co.,Ltd"],
        "consignee": ["Nordvik Materials GmbH", "NORDVIK MATERIALS GMBH", "Nordvik Material GmbH",
                      "Nordvik Materials GmbH, Hamburg"],
        "hs_code": ["8112920090", "811292", "81129200", "8112920090"],
        "description": ["metal powder sample", "alloy powder sample", "alloy powder", "reagent"],
        "transport_mode": ["EMS", "China Post", "ePacket", "EMS"],
        "gross_weight_kg": ["1.9", "1.95", "1.8", "1.9"],
    })
    out = detector.score(detector.load_declarations(rows), model=None).output
    assert out["rule_hits"].str.contains("RF-SPLIT-002").all()
    assert (out["lane"] != "green").all()
