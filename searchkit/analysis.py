"""Chinese text analysis: normalization, jieba segmentation, character grams.

Normalization folds every character on its own: NFKC (full-width to
half-width, compatibility forms), lower case, then OpenCC ``t2s`` applied to
the single character (characters, not regional vocabulary). Folding per
character makes normalization a homomorphism: any substring of a text
normalizes to a substring of the normalized text, which is what exact keyword
search needs. The price: canonical composition across characters
(``e`` + U+0301 versus ``é``) is not applied.

Two token streams come out of a paragraph:

* ``words``: jieba in search mode over the normalized text (sub-words such as
  团结 inside 民族团结 are emitted too), punctuation dropped. Used for ranking
  and for the partial-match fallback. New indexes segment with jieba-rs (the
  Rust port of jieba, same dictionary and model, ~6x faster); an index records
  its segmenter and keeps it (see :class:`Segmenter`).
* ``grams``: every character of the normalized text (runs of white space
  count as one space) with its position, the character's ordinal. A keyword
  is exactly the phrase of its characters at consecutive positions, so
  substring search needs no segmentation. With ``grams=2`` (chosen when an
  index is created) every pair of neighbouring characters (bigram) is
  indexed too, at the position of its first character, and a keyword of two
  or more characters is the phrase of its bigrams: a phrase of common
  characters reads most of their long postings lists, a bigram's list is
  short. Bigrams make many more distinct terms (15 times more on the QA
  paragraphs): the index is larger (2.9 times on CMRC + DRCD, 1.7 times on
  Tang poems) and slower to build, so they are not the default. Titles keep
  characters only. On an index of characters the paragraphs' characters
  go to each segment's suffix arrays instead of postings (see
  :mod:`searchkit.suffixes`); their ``grams`` terms keep only statistics.

Offsets always point into the ORIGINAL text.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import importlib.util
import io
import marshal
import os
import pickle
import re
import struct
import sys
import tempfile
import threading
import unicodedata
from collections import Counter, defaultdict
from operator import add
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from whoosh.analysis import Token, Tokenizer

from .errors import SearchkitError

__all__ = [
    "AnalyzerSettings",
    "Normalized",
    "normalize",
    "fold",
    "Segmenter",
    "ChineseTokenizer",
    "gram_stream",
    "gram_terms",
    "keyword_grams",
    "keyword_text",
    "DictionaryEntry",
    "dictionary_hash",
]

_PACK_UINT = struct.Struct("!I").pack


@dataclass(frozen=True)
class AnalyzerSettings:
    """What decides the tokens; recorded in the index and checked on open."""

    segmenter: str = "jieba-rs"  # or "jieba": see Segmenter
    mode: str = "search"
    hmm: bool = True
    normalization: str = "per-char nfkc+lower+opencc-t2s"
    grams: int = 1  # 1: characters; 2: characters and bigrams (see the module's docstring)
    # The user dictionary's hash (dictionary_hash), "" for none; its words are
    # kept in searchkit.json, and an index records it here so that no process
    # segments with another.
    dictionary: str = ""
    # Whether paragraphs' characters carry their pinyin readings (searchkit.pinyin).
    pinyin: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # Settings that are off are not recorded: as indexes made before them record theirs.
        if not self.dictionary:
            del data["dictionary"]
        if not self.pinyin:
            del data["pinyin"]
        return data


DictionaryEntry = tuple[str, int | None, str | None]  # (normalized word, frequency, tag)


def dictionary_hash(entries: Sequence[DictionaryEntry]) -> str:
    """What an index records of its user dictionary: a hash of its entries ("" for none)."""
    if not entries:
        return ""
    data = json.dumps([list(entry) for entry in entries], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


# --------------------------------------------------------------------------
# Normalization

_CJK_RANGES = (
    (0x3400, 0x4DC0),
    (0x4E00, 0xA000),
    (0xF900, 0xFB00),
    (0x20000, 0x2A6E0),
    (0x2A700, 0x2EBF0),
    (0x2F800, 0x2FA20),
)

_t2s_lock = threading.Lock()
_t2s_table: dict[str, str] | None = None
T2S_FILE = "t2s_chars.txt"  # in the package: build_t2s_table's pairs, made by scripts/make_t2s_table.py


def build_t2s_table() -> dict[str, str]:
    """OpenCC t2s applied to each CJK character alone: the characters it changes to one other."""
    import opencc

    converter = opencc.OpenCC("t2s")
    chars = [chr(c) for lo, hi in _CJK_RANGES for c in range(lo, hi)]
    converted = converter.convert("\n".join(chars)).split("\n")
    table = {}
    if len(converted) == len(chars):
        for original, simplified in zip(chars, converted):
            if original != simplified and len(simplified) == 1:
                table[original] = simplified
    return table


def read_t2s_file(text: str) -> dict[str, str]:
    """The table from the packaged file's text: ``#`` lines, then pairs (original, simplified) in a row."""
    pairs = "".join(line for line in text.splitlines() if not line.startswith("#"))
    return dict(zip(pairs[0::2], pairs[1::2]))


def _t2s_chars() -> dict[str, str]:
    """The per-character t2s table, read once from the package (building it from
    OpenCC took some 30 to 70 ms of every process that normalizes: each search)."""
    global _t2s_table
    if _t2s_table is None:
        with _t2s_lock:
            if _t2s_table is None:
                from importlib import resources

                try:
                    text = resources.files(__package__).joinpath(T2S_FILE).read_text(encoding="utf-8")
                except OSError:  # a source tree without the file: the same table, built
                    _t2s_table = build_t2s_table()
                else:
                    _t2s_table = read_t2s_file(text)
    return _t2s_table


PHRASE_VARIANTS_FILE = "phrase_variants.txt"  # made by scripts/make_phrase_variants.py
_variants_lock = threading.Lock()
_variants: tuple[dict[str, tuple[str, ...]], re.Pattern[str] | None] | None = None


def _phrase_variants() -> tuple[dict[str, tuple[str, ...]], re.Pattern[str] | None]:
    """The packaged pairs, both ways (phrase -> its other spellings), and a pattern finding any of them."""
    global _variants
    if _variants is None:
        with _variants_lock:
            if _variants is None:
                from importlib import resources

                table: dict[str, tuple[str, ...]] = {}
                text = resources.files(__package__).joinpath(PHRASE_VARIANTS_FILE).read_text(encoding="utf-8")
                for line in text.splitlines():
                    if line and not line.startswith("#"):
                        one, other = line.split("\t")
                        table[one] = (*table.get(one, ()), other)
                        table[other] = (*table.get(other, ()), one)
                longest_first = sorted(table, key=lambda phrase: (-len(phrase), phrase))
                pattern = re.compile("|".join(map(re.escape, longest_first))) if table else None
                _variants = (table, pattern)
    return _variants


def phrase_variants(text: str) -> list[str]:
    """``text`` (normalized) with phrases that traditional and simplified writers spell apart
    (计划 and 計畫, folded 计画; 了解 and 瞭解) spelt the other way: one text per alternative
    spelling, of the same length; none when it holds no such phrase.

    Per-character folding keeps offsets exact but cannot see phrases: the
    ranking adds the words of these texts to the query's, as one word each.
    """
    table, pattern = _phrase_variants()
    if pattern is None:
        return []
    found = list(pattern.finditer(text))
    if not found:
        return []
    texts = []
    for choice in range(max(len(table[match.group()]) for match in found)):
        parts, end = [], 0
        for match in found:
            spellings = table[match.group()]
            parts += [text[end:match.start()], spellings[min(choice, len(spellings) - 1)]]
            end = match.end()
        texts.append("".join(parts) + text[end:])
    return texts


class _FoldTable(dict):  # type: ignore[type-arg]
    """``str.translate`` table that folds characters on first sight."""

    def __init__(self) -> None:
        super().__init__()
        # Characters that fold to anything but exactly one character.
        self.irregular: set[str] = set()
        self._irregular_pattern: tuple[int, re.Pattern[str] | None] = (0, None)

    def has_irregular(self, text: str) -> bool:
        """Whether ``text`` holds a character seen to fold to other than one character.

        A regular expression of them, made again when one more is seen (a few
        dozen at most: ligatures, ellipses, unit symbols): ``set.isdisjoint``
        made a string of every character of a long paragraph.
        """
        irregular = self.irregular
        if not irregular:
            return False
        size, pattern = self._irregular_pattern
        if pattern is None or size != len(irregular):
            pattern = re.compile("[" + "".join(re.escape(char) for char in sorted(irregular)) + "]")
            self._irregular_pattern = (len(irregular), pattern)
        return pattern.search(text) is not None

    def __missing__(self, code: int) -> str:
        char = chr(code)
        t2s = _t2s_chars()
        folded = "".join(t2s.get(c, c) for c in unicodedata.normalize("NFKC", char).lower())
        if len(folded) != 1:
            self.irregular.add(char)
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """The normalized form of ``text`` (no offset map)."""
    return text.translate(_FOLD)


_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


def keyword_text(raw: str, quoted: bool = False) -> str:
    """A query keyword (or a synonym) as it is matched: normalized, white space
    runs as one space, and (unless quoted) leading and trailing punctuation dropped."""
    text = " ".join(fold(raw).split())
    if not quoted:
        text = _EDGE_PUNCT.sub("", text)
    return text


class Normalized:
    """A normalized text and the map from its characters to the original."""

    __slots__ = ("original", "text", "_origin")

    def __init__(self, original: str, text: str, origin: list[int] | None) -> None:
        self.original = original
        self.text = text
        # origin[i] is the original index of normalized char i; None = identity.
        self._origin = origin

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized span [start, end) onto the original text."""
        origin = self._origin
        if origin is None:
            return start, end
        if start >= end:
            point = origin[start] if start < len(origin) else len(self.original)
            return point, point
        return origin[start], origin[end - 1] + 1


def normalize(text: str) -> Normalized:
    """Normalize ``text``, keeping the offset map back to the original."""
    folded = text.translate(_FOLD)
    if len(folded) == len(text) and not _FOLD.has_irregular(text):
        return Normalized(text, folded, None)
    origin: list[int] = []
    for index, char in enumerate(text):
        origin.extend([index] * len(_FOLD[ord(char)]))
    return Normalized(text, folded, origin)


# --------------------------------------------------------------------------
# Character grams


def gram_stream(normalized: str) -> tuple[str, list[int] | None]:
    """Collapse white-space runs to one space; map stream index -> normalized index."""
    if not any(c.isspace() for c in normalized):
        return normalized, None
    stream: list[str] = []
    where: list[int] = []
    previous_space = True  # also strips leading white space
    for index, char in enumerate(normalized):
        if char.isspace():
            if previous_space:
                continue
            char = " "
            previous_space = True
        else:
            previous_space = False
        stream.append(char)
        where.append(index)
    if stream and stream[-1] == " ":
        stream.pop()
        where.pop()
    return "".join(stream), where


TITLE_GRAMS = 1  # titles' grams are characters whatever the setting (see index.paragraph_docs)


def keyword_grams(keyword: str, grams: int = 1) -> list[str]:
    """The grams a (normalized, collapsed) keyword must match, at consecutive positions."""
    if grams == 1 or len(keyword) < 2:
        return list(keyword)
    return [keyword[i : i + 2] for i in range(len(keyword) - 1)]


def gram_terms(stream: str, grams: int = 1) -> list[str]:
    """The grams indexed for ``stream``, by position (a character before its bigram)."""
    if grams == 1:
        return list(stream)
    terms = []
    for i, char in enumerate(stream):
        terms.append(char)
        if i + 1 < len(stream):
            terms.append(stream[i : i + 2])
    return terms


def gram_postings(stream: str, grams: int = 1) -> dict[str, list[int]]:
    """Gram -> positions in the stream: each character, and with ``grams=2``
    each pair of neighbours, at the position of its first character."""
    positions: dict[str, list[int]] = defaultdict(list)
    for index, char in enumerate(stream):
        positions[char].append(index)
    if grams == 2:
        for index in range(len(stream) - 1):
            positions[stream[index : index + 2]].append(index)
    return positions


# --------------------------------------------------------------------------
# Segmentation


def _cache_dir() -> Path:
    base = os.environ.get("SEARCHKIT_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "searchkit" if not os.environ.get("SEARCHKIT_CACHE") else root


SEGMENTERS = ("jieba-rs", "jieba")
GRAM_SIZES = (1, 2)
_SURROGATES = re.compile("[\ud800-\udfff]")


class Segmenter:
    """A private segmenter, loaded lazily: jieba-rs, or jieba from a marshal cache.

    ``jieba-rs`` (the ``rjieba`` binding of the Rust port) cuts with jieba's
    dictionary and HMM, about six times faster; on the shared corpora its
    tokens equal jieba's for 99.95% of texts (tests/test_analysis.py shows
    where they part: runs like ``zh-hans`` stay whole, and a few HMM cuts).
    Queries never segment with either (they use the index's own words), so
    an index only has to keep the segmenter it was built with, which it
    records in its settings.

    jieba's own ``initialize`` logs through jieba's logger and writes its cache
    to the temp folder; we build the same prefix dictionary and keep it in our
    own cache folder, touching none of jieba's global state.
    """

    def __init__(self, settings: AnalyzerSettings | None = None, dictionary: Sequence[DictionaryEntry] = ()) -> None:
        self.settings = settings or AnalyzerSettings()
        self.dictionary = tuple(tuple(entry) for entry in dictionary)
        if dictionary_hash(self.dictionary) != self.settings.dictionary:  # type: ignore[arg-type]
            raise SearchkitError("the user dictionary does not match the analyzer settings' dictionary hash")
        if self.settings.segmenter not in SEGMENTERS:
            raise SearchkitError(f"unknown segmenter {self.settings.segmenter!r}: choose one of {', '.join(SEGMENTERS)}")
        if self.settings.grams not in GRAM_SIZES:
            raise SearchkitError(f"grams must be 1 (characters) or 2 (characters and bigrams), not {self.settings.grams!r}")
        self._tokenizer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Whoosh pickles the schema (and so this) into its table of contents.
        return {"settings": self.settings, "dictionary": self.dictionary}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"], state.get("dictionary", ()))  # type: ignore[misc]

    @property
    def tokenizer(self) -> Callable[[str, str, bool], Iterable[tuple[str, int, int]]]:
        """``cut(text, mode, hmm)`` -> (word, start, end), as jieba's ``tokenize``."""
        if self._tokenizer is None:
            self._tokenizer = _shared_tokenizer(self.settings.segmenter, self.dictionary)  # type: ignore[arg-type]
        return self._tokenizer

    @staticmethod
    def _load_jieba(dictionary: Sequence[DictionaryEntry] = ()) -> Callable[[str, str, bool], Iterable[tuple[str, int, int]]]:
        import jieba

        tokenizer = jieba.Tokenizer()
        dict_path = Path(jieba.get_dict_file().name)
        stat = dict_path.stat()
        cache = _cache_dir() / f"jieba-{jieba.__version__}-{stat.st_size}-{int(stat.st_mtime)}.marshal"
        try:
            with open(cache, "rb") as handle:
                freq, total = marshal.load(handle)
        except (OSError, ValueError, EOFError, TypeError):
            with tokenizer.get_dict_file() as handle:
                freq, total = tokenizer.gen_pfdict(handle)
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".jieba-")
                with os.fdopen(fd, "wb") as handle:
                    marshal.dump((freq, total), handle)
                os.replace(tmp, cache)
            except OSError:
                pass  # no cache: slower next start, nothing worse
        tokenizer.FREQ, tokenizer.total = freq, total
        tokenizer.initialized = True
        for word, frequency, tag in dictionary:  # this tokenizer's own (jieba's global one is never touched)
            tokenizer.add_word(word, frequency, tag)
        return lambda text, mode, hmm: tokenizer.tokenize(text, mode=mode, HMM=hmm)

    @staticmethod
    def _load_jieba_rs(dictionary: Sequence[DictionaryEntry] = ()) -> Callable[[str, str, bool], Iterable[tuple[str, int, int]]]:
        tokenizer = _rjieba_class()()
        for word, frequency, tag in dictionary:
            # jieba's add_word: without a frequency, the one that keeps the word whole on its own.
            tokenizer.add_word(word, frequency if frequency is not None else tokenizer.suggest_freq(word), tag)

        def cut(text: str, mode: str, hmm: bool) -> Iterable[tuple[str, int, int]]:
            try:
                return tokenizer.tokenize(text, mode=mode, hmm=hmm)  # type: ignore[no-any-return]
            except UnicodeEncodeError:
                # Lone surrogates (undecodable bytes of a command line, say)
                # cannot cross into Rust: cut a stand-in of the same length.
                stand_in = _SURROGATES.sub("\ufffd", text)
                return [(text[start:end], start, end) for _w, start, end in tokenizer.tokenize(stand_in, mode=mode, hmm=hmm)]

        return cut

    def words(self, normalized: str, search: bool | None = None) -> list[tuple[str, int, int]]:
        """(word, start, end) in normalized coordinates; punctuation dropped."""
        search_mode = self.settings.mode == "search" if search is None else search
        return [
            token
            for token in self.tokenizer(normalized, "search" if search_mode else "default", self.settings.hmm)
            if token[0].isalnum() or any(c.isalnum() for c in token[0])  # (most words: the first test)
        ]


def _rjieba_class() -> Any:
    """rjieba's ``Jieba`` class, without importing the package.

    The package's ``__init__`` builds a default instance for its module-level
    functions: 0.15 s of every indexing run, for a tokenizer we never use.
    Its compiled module is loaded on its own instead, and registered, so a
    later ``import rjieba`` uses it rather than initializing it again.
    """
    loaded = sys.modules.get("rjieba.rjieba") or sys.modules.get("rjieba")
    if loaded is not None:
        return loaded.Jieba
    try:
        package = importlib.util.find_spec("rjieba")
        folder = Path(package.submodule_search_locations[0])  # type: ignore[union-attr,index]
        suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        path = next(p for p in folder.iterdir() if p.name.startswith("rjieba.") and p.name.endswith(suffixes))
        loader = importlib.machinery.ExtensionFileLoader("rjieba.rjieba", str(path))
        spec = importlib.util.spec_from_file_location("rjieba.rjieba", path, loader=loader)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        loader.exec_module(module)
        sys.modules["rjieba.rjieba"] = module
        return module.Jieba
    except (ImportError, AttributeError, OSError, StopIteration, TypeError, IndexError):
        import rjieba  # laid out otherwise: the plain import

        return rjieba.Jieba


_tokenizer_lock = threading.Lock()
_tokenizers: dict[tuple[str, str], Any] = {}


def _shared_tokenizer(name: str, dictionary: Sequence[DictionaryEntry] = ()) -> Any:
    """One private tokenizer per segmenter, user dictionary and process: read-only once loaded."""
    key = (name, dictionary_hash(dictionary))
    if key not in _tokenizers:
        with _tokenizer_lock:
            if key not in _tokenizers:
                load = Segmenter._load_jieba_rs if name == "jieba-rs" else Segmenter._load_jieba
                _tokenizers[key] = load(dictionary)
    return _tokenizers[key]


# --------------------------------------------------------------------------
# Postings for the writer, without Token objects


_PICKLERS = threading.local()


def pickle_compact(obj: Any, protocol: int = 3) -> bytes:
    """``pickle.dumps`` without memo opcodes (nor, below protocol 4, framing).

    Whoosh unpickles posting values, blocks and inlined postings lists
    whatever the protocol. It pickles them with protocol 2, where each bytes
    object is a call of ``_codecs.encode`` on a latin-1 string (its bytes
    over 127 take two in UTF-8) and each tuple a memo entry: most of a rare
    term's row in the term table, slower to unpickle. Protocol 1 suffices
    for lists of ints (no protocol header); protocol 3 writes bytes as they are.
    """
    picklers = getattr(_PICKLERS, "by_protocol", None)
    if picklers is None:
        picklers = _PICKLERS.by_protocol = {}
    entry = picklers.get(protocol)
    if entry is None:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol)
        pickler.fast = True  # no memo: nothing shared or recursive is pickled here
        entry = picklers[protocol] = (buffer, pickler)
    buffer, pickler = entry
    buffer.seek(0)
    buffer.truncate()
    pickler.dump(obj)
    return buffer.getvalue()


def encode_positions(positions: list[int]) -> bytes:
    """Whoosh's ``Positions`` posting value (count + pickled deltas, see :func:`pickle_compact`)."""
    deltas = []
    base = 0
    for pos in positions:
        deltas.append(pos - base)
        base = pos
    return _PACK_UINT(len(deltas)) + pickle_compact(deltas, 1)


def position_items(positions: dict[str, list[int]]) -> list[tuple[bytes, int, float, bytes]]:
    """(term bytes, freq, weight, value) tuples as ``FieldType.index`` yields them."""
    items = []
    single = _single_position_values(max(map(max, positions.values()), default=-1) + 1)
    for term, poses in positions.items():
        count = len(poses)
        # Most terms occur once in a paragraph: their value depends only on the position.
        value = single[poses[0]] if count == 1 else encode_positions(poses)
        items.append((term.encode("utf-8"), count, float(count), value))
    return items


def gram_items(stream: str, grams: int = 1) -> list[tuple[bytes, int, float, bytes]]:
    """``position_items(gram_postings(stream, grams))``, in another order, made quicker
    where every gram occurs once (most short paragraphs)."""
    terms = list(stream)
    positions = list(range(len(stream)))
    if grams == 2 and len(stream) > 1:
        terms += map(add, stream, stream[1:])
        positions += positions[:-1]
    first = dict(zip(reversed(terms), reversed(positions)))  # term -> its first position
    if len(first) < len(terms):
        return position_items(gram_postings(stream, grams))
    single = _single_position_values(len(stream))
    return [(term.encode("utf-8"), 1, 1.0, single[position]) for term, position in first.items()]


_SINGLE_POSITION: list[bytes] = []


def _single_position_values(count: int) -> list[bytes]:
    """The posting values of one occurrence at each position below ``count``."""
    single = _SINGLE_POSITION
    single.extend(encode_positions([position]) for position in range(len(single), count))
    return single


def count_items(terms: Iterable[str]) -> list[tuple[bytes, int, float, bytes]]:
    """(term bytes, count, weight, value) with the count as weight and no value (Whoosh's ``Existence`` format)."""
    return [(term.encode("utf-8"), n, float(n), b"") for term, n in Counter(terms).items()]


# --------------------------------------------------------------------------
# The Whoosh tokenizer (the analyzer contract for ``analyze`` and for Whoosh)


class ChineseTokenizer(Tokenizer):  # type: ignore[misc]
    """Whoosh tokenizer: normalized jieba words with offsets into the original.

    ``mode="index"`` (the default) emits search-mode sub-words; ``mode="query"``
    emits jieba's default cut. Positions are token ordinals.
    """

    def __init__(self, segmenter: Segmenter | None = None) -> None:
        self.segmenter = segmenter or Segmenter()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChineseTokenizer) and other.segmenter.settings == self.segmenter.settings

    def __hash__(self) -> int:
        return hash(self.segmenter.settings)

    def __call__(  # noqa: PLR0913 - Whoosh's tokenizer signature
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        normalized = normalize(value)
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = normalized.text
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar = start_char
                token.endchar = start_char + len(value)
            yield token
            return
        search = mode != "query"
        for ordinal, (word, start, end) in enumerate(self.segmenter.words(normalized.text, search=search)):
            token.text = word
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                ostart, oend = normalized.to_original(start, end)
                token.original = value[ostart:oend]
            if positions:
                token.pos = start_pos + ordinal
            if chars:
                ostart, oend = normalized.to_original(start, end)
                token.startchar = start_char + ostart
                token.endchar = start_char + oend
            yield token


@dataclass(frozen=True)
class AnalyzedToken:
    """One token as ``searchkit analyze`` shows it."""

    text: str
    position: int
    start: int
    end: int
    original: str


def analyze(text: str, segmenter: Segmenter, query: bool = False) -> tuple[str, list[AnalyzedToken]]:
    """Normalized text and its word tokens, for explaining matches."""
    tokenizer = ChineseTokenizer(segmenter)
    tokens = [
        AnalyzedToken(t.text, t.pos, t.startchar, t.endchar, t.original)
        for t in tokenizer(text, positions=True, chars=True, keeporiginal=True, mode="query" if query else "index")
    ]
    return fold(text), tokens
