"""One normal form for declaration text, and the phrase matching text rules run on it.

Traders write the same goods many ways: ``ＤＹ２Ｏ３`` in full-width forms, ``Dy₂O₃``
with subscripts, ``稀土`` inside a longer Chinese phrase without spaces, ``NdFeB磁铁``
with no space between the scripts, ``dysprosuim`` misspelt. Every text predicate
therefore reads text in one normal form, computed here by :func:`normalise`, and
reference tables and rule patterns are written against it.

The normal form of a text, step by step:

1. Unicode NFKC. Compatibility forms become their plain form: full-width Latin
   letters, digits and punctuation become ASCII (``ＤＹ２Ｏ３`` -> ``DY2O3``, ``（`` ->
   ``(``, ``：`` -> ``:``), sub- and superscript digits become digits (``Dy₂O₃`` ->
   ``Dy2O3``), ligatures are spelt out (``ﬁ`` -> ``fi``), no-break, ideographic and
   other fixed-width spaces become spaces, and CJK compatibility ideographs become
   the unified ones.
2. Lower case (Unicode's lower-case mapping; not full case folding, so ``ß`` stays).
3. Invisible format characters are removed: soft hyphen, zero-width space and
   joiners, word joiner, byte-order mark.
4. Dashes (hyphen, non-breaking hyphen, figure, en and em dash, horizontal bar,
   minus sign, small em dash and hyphen-minus) become ``-``; curly single quotes and the prime
   become ``'``, curly double quotes and the double prime ``"``; the ideographic
   comma ``、`` becomes ``,`` and the ideographic full stop ``。`` becomes ``.``.
5. Every run of white space (tabs, line breaks, any Unicode space) becomes one
   space, and the text is trimmed.
6. A space between two characters of a script written without spaces between words
   (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) is dropped: ``稀 土`` ->
   ``稀土``.

Other punctuation is kept as written: ``nd-fe-b`` and ``nd fe b`` stay different
phrases (a table lists both where both are used). Traditional and simplified Chinese
characters are different characters (``鏑`` and ``镝``); tables list both forms.

Phrases are put in the same normal form and matched by script (:class:`PhraseMatcher`):
an end of a phrase that is a letter or digit of a script written with spaces (Latin,
Greek, Cyrillic, ...) must meet a word boundary, so ``tile`` is not found in
``textile``; an end in a script written without spaces (Han, kana, Hangul, Thai, Lao,
Khmer, Myanmar) needs none, so ``稀土`` is found in ``稀土氧化物``, and a character of
those scripts is a boundary for a Latin neighbour, so ``ndfeb`` is found in
``ndfeb磁铁``. Hangul is written with spaces, but its particles join the noun
(``희토류를``), so it is matched by substring too. All matching runs on pyarrow's RE2
engine (linear time), on the distinct values of a column.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import OSA, Indel

# Scripts written without spaces between words: a space between two of their
# characters carries nothing (step 6), and their phrases match by substring.
UNSPACED_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
SUBSTRING_SCRIPTS = UNSPACED_SCRIPTS + r"\p{Hangul}"
# Letters of the alphabetic scripts whose words a typo is looked for in.
_ALPHABETIC = r"\p{Latin}\p{Greek}\p{Cyrillic}\p{M}"
_WORD = r"\pL\pN_"
# An end of a phrase in a spaced script needs this on its outer side.
_START = rf"(?:^|[^{_WORD}]|[{SUBSTRING_SCRIPTS}])"
_END = rf"(?:$|[^{_WORD}]|[{SUBSTRING_SCRIPTS}])"
NEVER = r"[^\s\S]"  # RE2 has no (?!): a pattern that never matches
# RE2 refuses a program over its memory budget ("pattern too large"): 20,000 names of a
# reference table in one alternation are. Phrases and prefixes are therefore split into
# alternations of at most this many characters, each matched on its own. RE2 compiled
# 200,000 characters of short non-Latin phrases (the worst case measured), so the budget
# leaves a tenfold margin, and every shipped list fits in one.
ALTERNATION_BUDGET = 20_000

# (RE2 pattern, replacement) applied in order after NFKC and lower-casing (steps 3-5).
_REPLACEMENTS = (
    (r"[\x{00AD}\x{200B}-\x{200D}\x{2060}\x{FEFF}]", ""),
    (r"[\x{2010}-\x{2015}\x{2212}\x{FE58}\x{FE63}]", "-"),
    (r"[\x{2018}-\x{201B}\x{2032}]", "'"),
    (r"[\x{201C}-\x{201F}\x{2033}]", '"'),
    (r"\x{3001}", ","),
    (r"\x{3002}", "."),
    (r"[\s\p{Z}\x{0085}]+", " "),
)
_UNSPACED_GAP = (rf"([{UNSPACED_SCRIPTS}]) ([{UNSPACED_SCRIPTS}])", r"\1\2")
# A text that steps 3-6 may change: a character outside printable ASCII, or two spaces.
_SPECIAL = r"[^\x20-\x7e]|  "

# Typos are looked for only in words this long: shorter words are too close to each
# other (erbium / cerium / terbium) for an edit to say which was meant.
TYPO_MIN_LETTERS = 7
# Words this long may be two edits from the term; shorter ones one.
TYPO_TWO_EDITS_LETTERS = 10


def normalise(values: pd.Series) -> pd.Series:
    """The normal form of each text (module docstring), missing where missing.

    Parameters
    ----------
    values : pandas.Series
        Texts; anything else is read as its text.

    Returns
    -------
    pandas.Series
        Normalised texts (``str`` dtype), same index.

    Examples
    --------
    >>> normalise(pd.Series(["ＤＹ２Ｏ３  99.9%", "稀 土\u3000永磁", "Nd–Fe–B"])).tolist()
    ['dy2o3 99.9%', '稀土永磁', 'nd-fe-b']
    """
    normal = normal_text(_arrow(values))
    return pd.Series(normal.to_numpy(zero_copy_only=False), index=values.index, dtype="str")


def normal_text(texts: pa.Array) -> pa.Array:
    """:func:`normalise` on an Arrow string array (what the predicates match on)."""
    normal = pc.utf8_lower(pc.utf8_normalize(texts, "NFKC"))
    # Most declaration text is printable ASCII with single spaces, which steps 3-6
    # leave as it is; RE2 replacing costs ten times what matching does, so only the
    # other texts are rewritten (on 1,000,000 distinct texts: 0.3 s instead of 4 s).
    special = pc.match_substring_regex(normal, _SPECIAL).fill_null(False)
    if pc.any(special).as_py():
        rewritten = normal.filter(special)
        for pattern, replacement in _REPLACEMENTS:
            rewritten = pc.replace_substring_regex(rewritten, pattern, replacement)
        # RE2 replaces non-overlapping matches: a run of single characters ("稀 土 永
        # 磁") loses every other gap in one pass and the rest in the second.
        for _ in range(2):
            rewritten = pc.replace_substring_regex(rewritten, *_UNSPACED_GAP)
        normal = pc.replace_with_mask(normal, special, rewritten)
    return pc.utf8_trim(normal, " ")


def _arrow(values: pd.Series) -> pa.Array:
    array = pa.array(values.astype("str"), type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def alternations(alternatives: list[str], budget: int) -> list[str]:
    """``a|b|...`` bodies of at most ``budget`` characters, in order; a text matches
    one of the alternatives exactly when it matches one of the bodies.

    RE2 refuses a program over its memory budget, so long lists are matched in pieces.
    """
    bodies: list[list[str]] = [[]]
    size = 0
    for alternative in alternatives:
        if bodies[-1] and size + len(alternative) > budget:
            bodies.append([])
            size = 0
        bodies[-1].append(alternative)
        size += len(alternative) + 1
    return ["|".join(body) for body in bodies]


def normal_form(values: pd.Series) -> pa.Array:
    """:func:`normalise` as an Arrow array: what the matchers below take, so a column's
    distinct values are normalised once however many predicates read them."""
    return normal_text(_arrow(values))


def contains(normal: pa.Array, patterns: list[str]) -> np.ndarray:
    """Whether each text, already in the normal form (:func:`normal_form`), holds a
    match of one of the RE2 ``patterns`` (case-insensitive, so a pattern may be
    written in capitals): what the ``regex`` predicate runs on a column's distinct
    values."""
    found = np.zeros(len(normal), dtype=bool)
    for pattern in patterns:
        hit = pc.match_substring_regex(normal, pattern, ignore_case=True).fill_null(False)
        found |= hit.to_numpy(zero_copy_only=False)
    return found


def phrase_patterns(phrases: list[str], whole: bool, budget: int) -> list[str]:
    """RE2 patterns, one of which matches a normalised text when any phrase occurs in
    it (module docstring: whole words in spaced scripts, substrings in the others), or
    is the whole text but for punctuation with ``whole``; one pattern per kind of phrase
    ends unless the phrases exceed ``budget``."""
    normal = _distinct_phrases(phrases)
    if not len(normal):
        return [NEVER]
    texts = normal.to_pylist()
    if whole:
        bodies = alternations(sorted(map(_escape, texts), key=len, reverse=True), budget)
        return [rf"^[^{_WORD}]*(?:{body})[^{_WORD}]*$" for body in bodies]
    free_start = contains(normal, [rf"^[{SUBSTRING_SCRIPTS}]"])
    free_end = contains(normal, [rf"[{SUBSTRING_SCRIPTS}]$"])
    groups: dict[tuple[bool, bool], list[str]] = {}
    for text, start, end in zip(texts, free_start, free_end):
        groups.setdefault((bool(start), bool(end)), []).append(_escape(text))
    patterns = []
    for (start, end), alternatives in sorted(groups.items()):
        for body in alternations(sorted(alternatives, key=len, reverse=True), budget):
            patterns.append(f"{'' if start else _START}(?:{body}){'' if end else _END}")
    return patterns


def _distinct_phrases(phrases: list[str]) -> pa.Array:
    normal = normal_text(pa.array([str(p) for p in phrases], type=pa.string()))
    return pc.unique(normal.filter(pc.not_equal(normal, "")))


def _escape(phrase: str) -> str:
    """The phrase as an RE2 literal; its single spaces (normal form) stay spaces."""
    return " ".join(re.escape(word) for word in phrase.split(" "))


def words(normal: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """The words of alphabetic scripts (Latin, Greek, Cyrillic) in each normalised
    text: the index of the text each word is from, and the words."""
    spaced = pc.replace_substring_regex(normal, rf"[^{_ALPHABETIC}]+", " ")
    lists = pc.utf8_split_whitespace(spaced)
    return pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), pc.list_flatten(lists)


@dataclass(frozen=True)
class PhraseMatcher:
    """Finds phrases in texts, optionally allowing typos in their longer words.

    With ``typos``, a word of a text of at least ``TYPO_MIN_LETTERS`` letters that is
    no known word is read as the phrase word it is closest to, when that is one edit
    away (optimal string alignment: an insertion, deletion, substitution or swap of
    neighbours; two for words of ``TYPO_TWO_EDITS_LETTERS`` letters or more), no other
    known word is as close, and the phrase word is that long too. "dysprosuim",
    "neodimium" and "praseodynium" are read as the elements; "terbium" is never read as
    "erbium" (too short to be a target, and a known word is never changed). Known words
    are the phrases' own and the ``known`` texts' (the whole reference table a rule
    reads, so a word of another column of it is known too).
    """

    patterns: tuple[str, ...]
    typos: bool = False
    lexicon: tuple[str, ...] = ()  # known words of TYPO_MIN_LETTERS letters or more
    targets: tuple[bool, ...] = ()  # which lexicon words are phrase words

    @classmethod
    def build(cls, phrases: list[str], *, whole: bool = False, typos: bool = False,
              known: list[str] = (), budget: int) -> PhraseMatcher:
        """The matcher for ``phrases`` (RE2 alternations of at most ``budget`` characters)."""
        patterns = tuple(phrase_patterns(phrases, whole, budget))
        if not typos:
            return cls(patterns)
        phrase_words = set(_long_words(phrases))
        lexicon = tuple(sorted(phrase_words | set(_long_words(list(known)))))
        return cls(patterns, True, lexicon, tuple(word in phrase_words for word in lexicon))

    def __call__(self, values: pd.Series) -> np.ndarray:
        """Whether each text holds a phrase (``values``: distinct texts, none missing)."""
        return self.find(normal_form(values))

    def find(self, normal: pa.Array) -> np.ndarray:
        """Whether each text, already in the normal form, holds a phrase."""
        found = contains(normal, list(self.patterns))
        if self.typos and any(self.targets):
            rows, corrected = self.corrected(normal)
            found[rows] |= contains(corrected, list(self.patterns))
        return found

    def corrected(self, normal: pa.Array) -> tuple[np.ndarray, pa.Array]:
        """The texts that hold a typo (their positions) with each typo corrected.

        Runs on the distinct words of the texts; distances are computed by rapidfuzz
        (C++, one matrix call) between the unknown words and the lexicon, which is
        quicker and better tested than a hand-written edit distance, and bounded by
        ``score_cutoff`` so a pair costs little beyond two edits.
        """
        # A file repeats its words: split at the normal form's single spaces (no regex),
        # keep the tokens long enough to hold a long word, and cut the letters out of
        # each distinct one once.
        lists = pc.split_pattern(normal, " ")
        offsets = lists.offsets.to_numpy(zero_copy_only=False)
        parents = np.repeat(np.arange(len(lists)), np.diff(offsets))
        tokens = lists.flatten()
        long = pc.greater_equal(pc.utf8_length(tokens), TYPO_MIN_LETTERS)
        parents = parents[long.to_numpy(zero_copy_only=False)]
        encoded = pc.dictionary_encode(tokens.filter(long))
        token_of_word, letters = words(encoded.dictionary)
        long = pc.greater_equal(pc.utf8_length(letters), TYPO_MIN_LETTERS).to_numpy(zero_copy_only=False)
        token_of_word = token_of_word[long]
        codes, distinct = pd.factorize(letters.filter(pa.array(long)).to_numpy(zero_copy_only=False))
        lexicon = np.array(self.lexicon, dtype=object)
        unknown = np.flatnonzero(~np.isin(distinct, lexicon))
        if not len(unknown) or not len(lexicon):
            return np.zeros(0, dtype=np.int64), pa.array([], type=pa.string())
        fixes = self._nearest(distinct[unknown], lexicon)
        replacement = np.full(len(distinct), None, dtype=object)
        replacement[unknown] = fixes
        pairs = {distinct[i]: replacement[i] for i in np.flatnonzero(replacement != None)}  # noqa: E711
        fixed_token = np.zeros(len(encoded.dictionary), dtype=bool)
        fixed_token[token_of_word[replacement[codes] != None]] = True  # noqa: E711
        rows = np.unique(parents[fixed_token[encoded.indices.to_numpy(zero_copy_only=False)]])
        corrected = normal.take(pa.array(rows, type=pa.int64()))
        boundary_before, boundary_after = rf"(^|[^{_ALPHABETIC}])", rf"($|[^{_ALPHABETIC}])"
        for wrong, right in pairs.items():
            # A match takes the character after the word, so a repeat right after it
            # ("dysprosuim/dysprosuim") is left for the second pass.
            for _ in range(2):
                corrected = pc.replace_substring_regex(
                    corrected, f"{boundary_before}{re.escape(wrong)}{boundary_after}", rf"\1{right}\2")
        return rows, corrected

    def _nearest(self, candidates: np.ndarray, lexicon: np.ndarray) -> np.ndarray:
        """For each candidate word, the phrase word it is a typo of, or None."""
        distances = process.cdist(list(candidates), list(lexicon), scorer=OSA.distance, score_cutoff=2,
                                  dtype=np.int32, workers=1)
        shorter = np.minimum(np.fromiter(map(len, candidates), int, len(candidates))[:, None],
                             np.fromiter(map(len, lexicon), int, len(lexicon))[None, :])
        allowed = np.where(shorter >= TYPO_TWO_EDITS_LETTERS, 2, 1)
        distances = np.where(distances <= allowed, distances, np.iinfo(np.int32).max)
        best = distances.min(axis=1)
        nearest = distances.argmin(axis=1)
        alone = (distances == best[:, None]).sum(axis=1) == 1
        fixed = (best < np.iinfo(np.int32).max) & alone & np.asarray(self.targets, dtype=bool)[nearest]
        return np.where(fixed, lexicon[nearest], None)


def _long_words(texts: list[str]) -> list[str]:
    """The distinct normalised alphabetic words of ``texts`` of at least
    ``TYPO_MIN_LETTERS`` letters."""
    if not texts:
        return []
    _, tokens = words(normal_text(pa.array([str(t) for t in texts], type=pa.string())))
    long = pc.greater_equal(pc.utf8_length(tokens), TYPO_MIN_LETTERS)
    return pc.unique(tokens.filter(long)).to_pylist()


def party_key(values: pd.Series, drop: list[str], translations: dict[str, str] | None = None) -> pd.Series:
    """A key under which the ways one party is written meet, missing where missing.

    Exporters and consignees are typed by hand: "Shenzhen Jiahe Trading Co., Ltd.",
    "SHENZHEN JIAHE TRADING CO LTD", "Shenzhen Jia He Trade Co"; "Nordvik Materials
    GmbH, Hamburg" and "Nordvik Material GmbH". The key is the normal form, cut at the
    first comma (what follows is an address or the "Ltd" of "Co., Ltd"), without
    bracketed notes ("(Attn: J. Wu)"), punctuation, the words of ``drop`` (legal forms
    such as co, ltd, gmbh, 有限公司, and business words such as trading or technology),
    single letters left by dotted forms (s.r.o.), a plural s of longer words, accents
    ("OÜ" is "ou") and spaces (so "Jia He" is "Jiahe"). ``drop`` holds place names too
    (Shenzhen, SZ, Ningbo): a trader writes the city or leaves it out. Chinese
    characters left after that are read in pinyin (:func:`_in_pinyin`), so a name in
    characters meets its pinyin spelling; ``translations`` (Chinese word -> English,
    party_translations.csv) write the descriptive words of a name in English first,
    whether in characters or in pinyin (电子材料, Dianzi Cailiao: electronic material),
    so the name meets its English rendering.

    Keys that still differ by a typing slip or an abbreviation ("huaxinelecmaterial"
    and "huaxinelectronicmaterial", "apexalloysol" and "apexalloy") meet when they
    start with the same three characters, have at least :data:`FUZZY_KEY_MIN`
    characters and are at least :data:`FUZZY_KEY_SIMILARITY` percent alike (rapidfuzz's
    normalised Indel similarity), transitively; the group takes its smallest key. A
    name translated rather than spelled (Apex as 艾派克斯) keeps a key of its own.
    Run on the distinct names only.
    """
    codes, distinct = pd.factorize(values)
    if not len(distinct):
        return pd.Series(pd.array([None] * len(values), dtype="str"), index=values.index)
    folded = [unicodedata.normalize("NFKD", name) for name in pd.Series(distinct, dtype="str")]
    folded = ["".join(c for c in name if not unicodedata.combining(c)) for name in folded]
    text = normal_text(pa.array(folded, type=pa.string()))
    text = pc.replace_substring_regex(text, r"\([^)]*\)", " ")
    # Whatever follows the first comma: an address, or "Ltd" of "Co., Ltd".
    text = pc.replace_substring_regex(text, r",.*$", "")
    text = pc.replace_substring_regex(text, r"[^\pL\pN]+", " ")
    text = pc.replace_substring_regex(text, r"(\pL{4,})s\b", r"\1")
    text = _in_pinyin(_name_words(text, drop, translations or {}))
    text = pc.replace_substring_regex(text, r"(?:^| )\pL(?: \pL)+(?: |$)", " ")
    # The same words in another order (Metallhandel Krüger, Krüger Metallhandel; Chan
    # Tai Man, Tai Man Chan) are one party: their sorted words are compared as well.
    bags = np.array([" ".join(sorted(name.split())) if name else None
                     for name in text.to_pylist()], dtype=object)
    text = pc.replace_substring_regex(text, r"\s+", "")
    keys = pd.Series(text.to_pandas(), dtype="str").replace("", None)
    out = np.append(_alike_keys(keys.to_numpy(dtype=object), bags), None)[codes]
    return pd.Series(pd.array(out, dtype="str"), index=values.index)


# A Chinese word of more syllables than this is spelled in pinyin as one word or
# syllable by syllable only (its groupings double with each syllable).
_PINYIN_GROUPED_SYLLABLES = 6


def _name_words(names: pa.Array, drop: list[str], translations: dict[str, str]) -> pa.Array:
    """The words of ``names`` (spaced, punctuation gone) without the ``drop`` words, in
    Latin letters, in pinyin or in characters, and with the ``translations`` written
    in English (see :func:`party_key`)."""
    latin = [word for word in drop if word.isascii()]
    latin += [spelling for word in drop if not word.isascii() for spelling in _pinyin_spellings(word)]
    words = "|".join(_spaced(word) for word in sorted(set(latin), key=len, reverse=True))
    cjk = "|".join(re.escape(word) for word in sorted(drop, key=len, reverse=True) if not word.isascii())
    if words:
        # Every word between two spaces of its own, so a run of dropped words
        # ("imp exp co ltd") goes in one pass of non-overlapping matches.
        names = pc.binary_join_element_wise(" ", pc.replace_substring(names, " ", "  "), " ", "")
        names = pc.replace_substring_regex(pc.replace_substring_regex(names, rf" (?:{words}) ", " "), " +", " ")
    ordered = sorted(translations.items(), key=lambda item: -len(item[0]))
    # Pairs, not a mapping by English word: 化工 and 化学 are both "chemical".
    spelled = [("|".join(map(_spaced, _pinyin_spellings(chinese))), english) for chinese, english in ordered]
    names = _translated(names, [(rf" (?:{pattern}) ", f" {english} ") for pattern, english in spelled if pattern])
    if cjk:
        names = pc.replace_substring_regex(names, cjk, "")
    return _translated(names, [(re.escape(chinese), f" {english} ") for chinese, english in ordered])


def _spaced(word: str) -> str:
    """``word`` as a pattern matching it between the doubled spaces of
    :func:`_name_words`, a word of several (mao yi) across them."""
    return re.escape(word).replace(r"\ ", "  ")


def _rewritten(names: pa.Array, pattern: str, rewrite) -> pa.Array:
    """``names`` with ``rewrite`` applied to the names that hold ``pattern`` only (a
    handful of a file's distinct names)."""
    holds = pc.match_substring_regex(names, pattern).fill_null(False)
    if not len(names) or not pc.any(holds).as_py():
        return names
    return pc.replace_with_mask(names, holds, rewrite(names.filter(holds)).cast(names.type))


def _translated(names: pa.Array, replacements: list[tuple[str, str]]) -> pa.Array:
    """``names`` with each pattern replaced in turn, looked for only in the names that
    hold one of them (a pass per pattern over every name would cost what the names
    cost, times the patterns)."""
    if not replacements:
        return names

    def replaced(some: pa.Array) -> pa.Array:
        for pattern, replacement in replacements:
            some = pc.replace_substring_regex(some, pattern, replacement)
        return some

    return _rewritten(names, "|".join(pattern for pattern, _ in replacements), replaced)


@lru_cache(maxsize=4096)
def _pinyin_spellings(word: str) -> tuple[str, ...]:
    """The ways a Chinese word is written in pinyin, its syllables joined into words
    in every grouping: 有限公司 as youxiangongsi, youxian gongsi, you xian gong si and
    the rest, so "Xinrui Mao Yi Youxian Gongsi" drops what 鑫瑞贸易有限公司 drops."""
    from pypinyin import lazy_pinyin

    syllables = [syllable for syllable in lazy_pinyin(word) if syllable.isascii() and syllable.isalpha()]
    if len(syllables) < 2:  # one syllable (市, shi) is also a surname and part of names
        return ()
    if len(syllables) > _PINYIN_GROUPED_SYLLABLES:
        return ("".join(syllables), " ".join(syllables))
    spellings = []
    for cuts in range(2 ** (len(syllables) - 1)):
        words, current = [], syllables[0]
        for position, syllable in enumerate(syllables[1:]):
            if cuts >> position & 1:
                words.append(current)
                current = syllable
            else:
                current += syllable
        spellings.append(" ".join([*words, current]))
    return tuple(spellings)


def _in_pinyin(names: pa.Array) -> pa.Array:
    """The Chinese characters of ``names`` in pinyin without tones, the rest as it is.

    A Chinese exporter writes its name in characters on one declaration and in pinyin
    on the next (深圳华鑫贸易有限公司, Shenzhen Huaxin Trading Co., Ltd): with the legal
    forms, places and business words of both scripts left out, both keys read
    "huaxin". pypinyin reads words before characters, so 重庆 is chongqing. Only the
    distinct names that hold Chinese characters are looked up.
    """
    def spelled(some: pa.Array) -> pa.Array:
        from pypinyin import lazy_pinyin

        return pa.array(["".join(lazy_pinyin(name)) for name in some.to_pylist()])

    return _rewritten(names, r"\p{Han}", spelled)


# Party keys this long or longer meet keys this alike (percent, normalised Indel
# similarity: 2 * matching characters / both lengths) that start with the same three
# characters; shorter keys meet only when equal ("liwei" and "li" are not one person).
FUZZY_KEY_MIN = 6
FUZZY_KEY_SIMILARITY = 85.0
# Keys sharing a start compared at most this many at a time (a pairwise matrix).
FUZZY_BLOCK_MAX = 5000


def _alike_keys(keys: np.ndarray, bags: np.ndarray | None = None) -> np.ndarray:
    """Each key replaced by the smallest key of the group it meets (see
    :func:`party_key`): keys whose names hold the same words in another order
    (``bags``, the sorted words of each key's name) meet; so do distinct keys that
    start with the same three characters and are alike (rapidfuzz, within each block
    of a start); groups are then joined transitively."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    present = np.flatnonzero(pd.notna(keys))
    unique = np.unique(keys[present].astype(str)) if len(present) else np.array([], dtype=str)
    if len(unique) < 2:
        return keys
    links_from, links_to = [], []
    if bags is not None:
        # Keys of one bag of words: link each to the first key of its bag.
        bag_of = pd.Series(bags[present], dtype=object).groupby(keys[present].astype(str)).first()
        codes = pd.factorize(bag_of.reindex(unique).to_numpy(dtype=object))[0]
        first = pd.Series(np.arange(len(unique))).groupby(codes).transform("min").to_numpy()
        links_from.append(np.arange(len(unique)))
        links_to.append(first)
    long = np.flatnonzero(np.char.str_len(unique) >= FUZZY_KEY_MIN)
    starts = np.array([key[:3] for key in unique[long]])
    for start in np.unique(starts):
        block = long[starts == start]
        if len(block) < 2 or len(block) > FUZZY_BLOCK_MAX:
            continue
        scores = process.cdist(unique[block].tolist(), unique[block].tolist(), scorer=Indel.normalized_similarity,
                               score_cutoff=FUZZY_KEY_SIMILARITY / 100, dtype=np.float32)
        left, right = np.nonzero(scores)
        links_from.append(block[left])
        links_to.append(block[right])
    if not links_from:
        return keys
    left, right = np.concatenate(links_from), np.concatenate(links_to)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(unique), len(unique)))
    _, group = connected_components(graph, directed=False)
    # The smallest key of each group (unique is sorted, so the first met).
    first = np.full(group.max() + 1, len(unique))
    np.minimum.at(first, group, np.arange(len(unique)))
    chosen = dict(zip(unique.tolist(), unique[first[group]].tolist()))
    out = keys.copy()
    out[present] = [chosen[key] for key in keys[present].astype(str)]
    return out
