"""Queries: parsing, exact keyword matching, ranking, and the partial fallback.

Syntax (only ASCII characters are operators; full-width ones are text):

* ``民族团结 珠峰``: every keyword must appear in the paragraph, as that text
  after normalization (find-in-page semantics, exact on the phrase of its characters, or bigrams);
* ``"冬游 西藏"``: exactly that text (a space matches any white space);
* ``-word``: exclude; ``a OR b``; ``( ... )`` groups; ``title:word`` searches titles.

Ranking is BM25F over jieba words of paragraph and title (title boosted),
plus a small weight for the exact grams. When nothing holds every keyword,
the query falls back to ranking by the words of the keywords, partial matches
included, and says so; those are re-scored by how much of the question they
hold (idf-weighted words, character bigrams).
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import analysis
from .engine import (
    CharPhrase,
    PinyinPhrase,
    Query,
    RankedFilter,
    Ranked,
    WordUnion,
    all_matches,
    all_of,
    any_of,
    any_term,
    article_keys,
    boosted,
    cached_doc_frequency,
    collect,
    column_counts,
    column_values,
    documents,
    every,
    excluding,
    matching,
    negated,
    restricted,
    searcher_cache,
    term_bytes,
    value_range,
)
from .documents import parse_date
from .errors import QueryError
from .highlight import Snippet, find_spans, make_snippet, merge_spans
from .pinyin import describe_units, pinyin_units
from .synonyms import MAX_ALTERNATIVES, Synonyms

__all__ = [
    "SearchPart",
    "add_facet_counts",
    "facet_table",
    "search_part",
    "statistics_keys",
    "Hit",
    "SearchResult",
    "article_highlights",
    "parse_query",
    "Keyword",
    "Not",
    "And",
    "Or",
    "PARTIAL_NOTE",
    "MAX_QUERY_CHARS",
    "MAX_KEYWORDS",
]

Spans = list[tuple[int, int]]
# Facet counts before they are shown: name -> folded value -> spelling -> matches.
FacetCounts = dict[str, dict[str, dict[str, int]]]

PARTIAL_NOTE = "no result has every keyword; showing partial matches"
MAX_QUERY_CHARS = 2000
MAX_KEYWORDS = 64
MAX_LIMIT = 10000
# Ranking constants: round values, each checked on the tune half of the QA sets
# and reported on the other half (benchmarks/RESULTS.md, "Relevance: tune and
# check halves"); BM25F's k1 and b are Whoosh's defaults (1.2, 0.75).
# A title word counts double: a title names the subject, but one title is
# shared by all of its article's paragraphs, so it cannot outweigh the text.
TITLE_BOOST = 2.0
# Exact grams only add a little to the words' BM25: every match already holds them.
GRAMS_WEIGHT = 0.3
RANKING_FIELDS = ("words", "title_words")
RERANK_POOL = 100  # partial matches re-ranked by coverage of the query's words (deep enough: 50 and 200 rank alike)
# Score times the plain idf-weighted share of the question's words: a lower
# power lets paragraphs with one rare word in, a higher one drops recall.
COVERAGE_POWER = 1.0
# A partial match's score times 1 + 2 x the share of the question's bigrams it
# holds: the question's own phrasing is strong evidence, yet not all of it (1 is
# too little, 3 and more cost recall).
BIGRAM_WEIGHT = 2.0
LEVELS = ("paragraph", "article")
SORTS = ("relevance", "date", "-date")
FACETS = ("source", "author", "tag", "year", "month")

# Question words and particles that say nothing about the answer's paragraph.
QUESTION_WORDS = frozenset(
    "什么 什么样 什么时候 哪 哪个 哪些 哪里 哪儿 哪一 哪年 哪位 谁 多少 几 是否 吗 呢 么 怎么 怎样 如何 为何 为什么 "
    "的 了 是 在 和 与 及 或 有 被 把 从 对 于 其 之 也 都 而 由 以 为 中 等".split()
)

# Question phrases, cut out before segmenting, so "哪一种" leaves no "一种".
QUESTION_PHRASES = re.compile(
    r"哪一?[个种座门年位国些里边儿家条部所项次天本场届任支类片块首名间月日]?|[什甚]么样?|[什甚]么时候|多少|多久|多长|多大|多高|多远"
    r"|几[个年次种位岁天件名座家条本届月日号点成倍人]|为[什甚]么|为何|如何|怎么样?|怎样|何[处时地种人年者]|是否|谁|吗|呢"
)


# --------------------------------------------------------------------------
# Results


@dataclass
class Hit:
    """One ranked hit: a paragraph, or an article with its best paragraph.

    ``source`` is the publication, ``path`` the file the article came from;
    ``title_highlights`` are ``[start, end)`` spans of the keywords in ``title``.
    """

    article_id: str
    paragraph: int | None
    title: str
    score: float
    snippet: Snippet
    path: str | None = None
    date: str | None = None
    source: str | None = None
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    title_highlights: list[tuple[int, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "paragraph": self.paragraph,
            "title": self.title,
            "title_highlights": [list(span) for span in self.title_highlights],
            "score": round(self.score, 6),
            "snippet": self.snippet.to_json(),
            "date": self.date,
            "source": self.source,
            "authors": self.authors,
            "tags": self.tags,
            "path": self.path,
        }


@dataclass
class SearchResult:
    query: str
    total: int
    hits: list[Hit]
    partial: bool = False
    level: str = "paragraph"
    notes: list[str] = field(default_factory=list)
    offset: int = 0
    facets: dict[str, dict[str, int]] | None = None  # name -> value -> matches (paragraphs or articles)
    partial_shards: list[str] = field(default_factory=list)  # of a sharded index, those that did not answer

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "query": self.query,
            "total": self.total,
            "hits": [hit.to_json() for hit in self.hits],
        }
        if self.offset:
            data["offset"] = self.offset
        if self.facets is not None:
            data["facets"] = self.facets
        if self.partial:
            data["partial"] = True
        if self.notes:
            data["notes"] = self.notes
        if self.partial_shards:
            data["partial_shards"] = self.partial_shards
        return data


# --------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class Keyword:
    text: str  # normalized, white space collapsed
    raw: str
    title: bool = False
    quoted: bool = False
    alternatives: tuple[str, ...] = ()  # its synonyms (normalized): the keyword matches any of them too
    # Read as pinyin (on an index with pinyin): each way to read it, per character the terms that
    # character must hold; and the query of each (searchkit.pinyin).
    pinyin: tuple[tuple[tuple[str, ...], ...], ...] = ()
    pinyin_queries: tuple[Any, ...] = field(default=(), compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Keyword | Not | And | Or

_TOKEN = re.compile(r'\s+|"[^"]*"?|\(|\)|[^\s"()]+')
_normalize_keyword = analysis.keyword_text


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = [t for t in _TOKEN.findall(query) if not t.isspace()]
        self.position = 0
        self.notes: list[str] = []
        self.keywords = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def parse(self) -> Node | None:
        node = self.parse_or()
        while self.peek() is not None:  # a stray ")"
            self.position += 1
            self.note('ignored an unmatched ")"')
            more = self.parse_or()
            node = _join(And, [node, more])
        return node

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def parse_or(self) -> Node | None:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.position += 1
            parts.append(self.parse_and())
        present = [p for p in parts if p is not None]
        if len(present) < len(parts):
            self.note('ignored an "OR" with nothing on one side')
        return _join(Or, present)

    def parse_and(self) -> Node | None:
        parts: list[Node] = []
        while True:
            token = self.peek()
            if token is None or token in (")", "OR"):
                break
            node = self.parse_unary()
            if node is not None:
                parts.append(node)
        return _join(And, parts)

    def parse_unary(self) -> Node | None:
        token = self.tokens[self.position]
        if token.startswith("-") and len(token) > 1 and not token[1].isdigit():
            self.tokens[self.position] = token[1:]
            node = self.parse_atom()
            return Not(node) if node is not None else None
        if token == "-":
            self.position += 1
            self.note('ignored a lone "-"')
            return None
        return self.parse_atom()

    def parse_atom(self) -> Node | None:
        token = self.tokens[self.position]
        self.position += 1
        if token == "(":
            node = self.parse_or()
            if self.peek() == ")":
                self.position += 1
            else:
                self.note('closed an unmatched "("')
            return node
        title = False
        if token.startswith("title:"):
            title = True
            token = token[len("title:") :]
            if not token and self.peek() is not None and self.peek()[0] == '"':
                token = self.tokens[self.position]
                self.position += 1
        quoted = token.startswith('"')
        if quoted:
            if len(token) == 1 or not token.endswith('"'):
                self.note('closed an unmatched quote (")')
                token = token[1:]
            else:
                token = token[1:-1]
        text = _normalize_keyword(token, quoted)
        if not any(c.isalnum() for c in text):
            if token.strip():
                self.note(f"ignored {token!r}: nothing to search for in it")
            return None
        self.keywords += 1
        if self.keywords > MAX_KEYWORDS:
            raise QueryError(f"query has more than {MAX_KEYWORDS} keywords")
        return Keyword(text=text, raw=token, title=title, quoted=quoted)


def _join(kind: type[And] | type[Or], parts: Sequence[Node | None]) -> Node | None:
    present: list[Node] = []
    for part in parts:
        if isinstance(part, kind):  # a AND (b AND c) is a AND b AND c (a stray ")" makes such nesting)
            present.extend(part.nodes)
        elif part is not None:
            present.append(part)
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return kind(tuple(present))


@dataclass(frozen=True)
class Filters:
    """What a search's matches must be, besides its keywords: all of these hold (AND).

    ``sources``, ``authors`` and ``tags``: any of the values (OR within one);
    values compare after the same normalization as text (聯合報 is 联合报).
    ``date_from`` / ``date_to``: ISO dates, months or years, both included (an
    article dated only ``2023-12`` is within ``2023-12``, not within
    ``2023-12-01..2023-12-31``). Articles without a date pass no date filter.
    """

    sources: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    more: tuple[Filters, ...] = ()  # further filters, all of which hold too (the query's own, say)

    @classmethod
    def of(cls, *, source: Sequence[str] | str = (), author: Sequence[str] | str = (), tag: Sequence[str] | str = (),
           date_from: str | None = None, date_to: str | None = None) -> Filters:
        """Filters from user input: dates are read as :func:`~searchkit.documents.parse_date` reads them
        (:class:`QueryError` if one cannot be, or the range is empty)."""
        def values(given: Sequence[str] | str) -> tuple[str, ...]:
            return tuple(v for v in ([given] if isinstance(given, str) else given) if v and v.strip())

        start = _date_bound(date_from, "from") if date_from else None
        end = _date_bound(date_to, "to") if date_to else None
        if start and end and start > end and not end.startswith(start):
            raise QueryError(f"the date range {start}..{end} is empty: its start is after its end")
        return cls(values(source), values(author), values(tag), start, end)

    def __bool__(self) -> bool:
        return bool(self.sources or self.authors or self.tags or self.date_from or self.date_to or any(self.more))

    def describe(self) -> list[str]:
        """One line per condition, as ``analyze --query`` shows them."""
        lines = [f"{name} is {' or '.join(values)}"
                 for name, values in (("source", self.sources), ("author", self.authors), ("tag", self.tags)) if values]
        if self.date_from or self.date_to:
            lines.append(f"date from {self.date_from or 'any'} to {self.date_to or 'any'}")
        for more in self.more:
            lines.extend(more.describe())
        return lines

    def also(self, other: Filters) -> Filters:
        return self if not other else other if not self else Filters(more=(self, other))

    def query(self) -> Query:
        parts = [any_term(field, [analysis.fold(v).strip() for v in values])
                 for field, values in (("f_source", self.sources), ("f_author", self.authors), ("f_tag", self.tags))
                 if values]
        if self.date_from or self.date_to:
            # ISO strings sort as dates; an end of 2023-12 takes in every 2023-12-xx.
            parts.append(value_range("f_date", self.date_from, self.date_to))
        parts.extend(more.query() for more in self.more if more)
        return parts[0] if len(parts) == 1 else all_of(parts)


def _date_bound(value: str, which: str) -> str:
    parsed = parse_date(value)
    if parsed is None:
        raise QueryError(f"cannot read the date {value!r} ({which}): use 2023-12-10, 2023/12/10, 2023年12月10日, 2023-12 or 2023")
    return parsed


_FILTER_TOKEN = re.compile(r"^(source|author|tag|date):(.*)$", re.S)


def _query_filters(tokens: list[str]) -> tuple[list[str], Filters]:
    """Take ``source:``, ``author:``, ``tag:`` and ``date:`` terms out of the tokens (they AND with the rest)."""
    kept: list[str] = []
    found: list[Filters] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        match = _FILTER_TOKEN.match(token)
        if match is None:
            kept.append(token)
            continue
        name, value = match.groups()
        if not value and position < len(tokens) and tokens[position].startswith('"'):
            value = tokens[position]
            position += 1
        value = value.strip('"').strip()
        if not value:
            raise QueryError(f"{name}: needs a value, as in {name}:{'2023-12' if name == 'date' else '新华社'}")
        if name == "date":
            start, _dots, end = value.partition("..")
            if not _dots:
                end = start
            found.append(Filters.of(date_from=start or None, date_to=end or None))
        else:
            found.append(Filters.of(**{name: value}))
    combined = Filters()
    for filters in found:
        combined = combined.also(filters)
    return kept, combined


def has_filter_terms(query: str) -> bool:
    """Whether the query holds ``source:``, ``author:``, ``tag:`` or ``date:`` terms."""
    return any(_FILTER_TOKEN.match(token) for token in _TOKEN.findall(query))


def parse_query(query: str) -> tuple[Node | None, list[str], Filters]:
    """Parse a query into a tree, with notes on what was repaired or ignored, and its filters.

    The tree is None for a query of filters only (every paragraph they let
    through matches). Raises :class:`QueryError` for a query with nothing to
    search for.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query is too long: {len(query)} characters (at most {MAX_QUERY_CHARS})")
    if not query.strip():
        raise QueryError("empty query")
    parser = _Parser(query)
    parser.tokens, filters = _query_filters(parser.tokens)
    if not parser.tokens and filters:
        return None, [], filters
    node = parser.parse()
    if node is None and filters:
        return None, parser.notes, filters
    if node is None:
        raise QueryError(f"nothing to search for in query {query.strip()!r}")
    if not positive_keywords(node):
        raise QueryError("a query needs at least one keyword that is not excluded with -")
    if not _answerable(node):
        raise QueryError("each group in ( ) and each side of OR needs a keyword that is not excluded with -")
    return node, parser.notes, filters


def expand_synonyms(node: Node, synonyms: Synonyms) -> tuple[Node, list[str]]:
    """The tree with each keyword's synonyms as its alternatives (excluded keywords' too), and notes on
    keywords that had more than :data:`MAX_ALTERNATIVES`."""
    notes: list[str] = []

    def expand(part: Node) -> Node:
        if isinstance(part, Keyword):
            alternatives, every = synonyms.alternatives(part.text)
            if every > len(alternatives):
                note = f"synonyms of {part.text!r}: used the first {MAX_ALTERNATIVES} of {every}"
                if note not in notes:
                    notes.append(note)
            return replace(part, alternatives=tuple(alternatives)) if alternatives else part
        if isinstance(part, Not):
            return Not(expand(part.node))
        return type(part)(tuple(expand(n) for n in part.nodes))

    return expand(node), notes


def expand_pinyin(node: Node) -> Node:
    """The tree with each text keyword that reads as pinyin (:func:`~searchkit.pinyin.pinyin_units`) matching so too."""
    if isinstance(node, Keyword):
        readings = [] if node.title else pinyin_units(node.text)
        if not readings:
            return node
        return replace(node, pinyin=tuple(readings), pinyin_queries=tuple(PinyinPhrase("pinyin", units) for units in readings))
    if isinstance(node, Not):
        return Not(expand_pinyin(node.node))
    return type(node)(tuple(expand_pinyin(n) for n in node.nodes))


def _answerable(node: Node) -> bool:
    """Whether every part of the query can be matched: each group (and what an
    exclusion excludes) holds a keyword that is not itself excluded."""
    if isinstance(node, Keyword):
        return True
    if isinstance(node, Not):
        return _answerable(node.node)
    if isinstance(node, And):
        return any(not isinstance(n, Not) for n in node.nodes) and all(_answerable(n) for n in node.nodes)
    return all(not isinstance(n, Not) and _answerable(n) for n in node.nodes)


def positive_keywords(node: Node) -> list[Keyword]:
    if isinstance(node, Keyword):
        return [node]
    if isinstance(node, Not):
        return []
    found: list[Keyword] = []
    for child in node.nodes:
        found.extend(positive_keywords(child))
    return found


def article_highlights(query: str, title: str, paragraphs: Sequence[str]) -> tuple[Spans, list[Spans]]:
    """Where ``query``'s keywords are in an article's title and in each of its
    paragraphs, as a hit's highlights are: merged ``[start, end)`` character
    offsets (``title:`` keywords in the title only). Raises :class:`QueryError`
    as a search would."""
    node, _notes, _filters = parse_query(query)
    keywords = positive_keywords(node) if node is not None else []

    def spans(text: str, needles: set[str]) -> Spans:
        ordered = sorted(needles, key=len, reverse=True)
        return merge_spans([(start, end) for start, end, _n in find_spans(text, ordered)])

    text_needles = {k.text for k in keywords if not k.title}
    return spans(title, {k.text for k in keywords}), [spans(text, text_needles) for text in paragraphs]


# --------------------------------------------------------------------------
# Compiling to Whoosh


def keyword_terms(keyword: Keyword, grams: int, text: str | None = None) -> list[str]:
    """The grams the keyword (or its alternative ``text``) matches as a phrase, on an index of the given ``grams`` setting."""
    return analysis.keyword_grams(keyword.text if text is None else text, analysis.TITLE_GRAMS if keyword.title else grams)


def exact_query(keyword: Keyword, grams: int, openings: bool = False) -> Query:
    """Documents whose (title or paragraph) text holds the keyword exactly, or one of its alternatives.

    ``grams`` is the index's setting (:class:`analysis.AnalyzerSettings`). With ``openings``, a title
    keyword may match only each article's opening paragraph (see :class:`CharPhrase`).
    """
    fieldname = "title_grams" if keyword.title else "grams"
    # Also for one gram: paragraphs' characters have no postings, only suffix arrays.
    phrases = [CharPhrase(fieldname, keyword_terms(keyword, grams, text), openings=openings and keyword.title)
               for text in (keyword.text, *keyword.alternatives)]
    if not keyword.title:
        phrases.extend(keyword.pinyin_queries)
    return phrases[0] if len(phrases) == 1 else any_of(phrases)


def as_typed(keyword: Keyword) -> Keyword:
    """The keyword as typed: without its synonyms, not read as pinyin."""
    return replace(keyword, alternatives=(), pinyin=(), pinyin_queries=())


def paragraphs_holding(searcher: Any, grams: int, texts: Sequence[str], *, title: bool = False) -> set[int]:
    """The paragraph documents whose text (or with ``title``, whose article's title) holds any of the
    (normalized) ``texts`` exactly."""
    found: set[int] = set()
    for text in texts:  # (only paragraph documents have the grams fields)
        found.update(searcher.docs_for_query(exact_query(Keyword(text, text, title=title), grams)))
    return found


def _filter(node: Node, grams: int) -> Query:
    if isinstance(node, Keyword):
        return exact_query(node, grams)
    if isinstance(node, Not):
        return negated(_filter(node.node, grams))
    if isinstance(node, And):
        positives = [_filter(n, grams) for n in node.nodes if not isinstance(n, Not)]
        negatives = [_filter(n.node, grams) for n in node.nodes if isinstance(n, Not)]
        required = positives[0] if len(positives) == 1 else all_of(positives)
        if negatives:
            return excluding(required, negatives[0] if len(negatives) == 1 else any_of(negatives))
        return required
    return any_of([_filter(n, grams) for n in node.nodes])


def _negatives(node: Node, grams: int) -> list[Query]:
    """Top-level exclusions and title filters, kept hard in the fallback."""
    if isinstance(node, Not):
        return [_filter(node.node, grams)]
    if isinstance(node, And):
        return [_filter(n.node, grams) for n in node.nodes if isinstance(n, Not)]
    return []


class Lexicon:
    """Segments query text with the index's own word list: no jieba load at query time."""

    MAX_WORD = 8
    MAX_KNOWN = 200_000  # words whose frequency a searcher remembers

    def __init__(self, searcher: Any) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self._schema = searcher.schema
        # Per searcher (one state of the index): segmentation asks about
        # every substring of every query, again for the partial fallback.
        self._known: dict[str, int] = searcher_cache(searcher, "_searchkit_known_words", self.MAX_KNOWN)

    def doc_frequency(self, word: str) -> int:
        """Documents holding the word in text or title (a keyword only a title holds still ranks)."""
        frequency = self._known.get(word)
        if frequency is None:
            frequency = 0
            for fieldname in RANKING_FIELDS:
                btext = term_bytes(self._schema, fieldname, word)
                if btext is not None:
                    frequency += cached_doc_frequency(self.searcher, fieldname, btext)
            self._known[word] = frequency
        return frequency

    def idf(self, word: str) -> float:
        documents = max(1, self.searcher.doc_count())
        return math.log(1 + documents / (1 + self.doc_frequency(word)))

    def main_words(self, text: str) -> list[str]:
        """Segmentation over indexed words (see :meth:`_segment_chunk`)."""
        words: list[str] = []
        for chunk in re.findall(r"\w+", text):
            words.extend(self._segment_chunk(chunk))
        return words

    def segment(self, text: str) -> list[str]:
        """:meth:`main_words`, plus their indexed sub-words."""
        return self.with_sub_words(self.main_words(text))

    def with_sub_words(self, words: Sequence[str]) -> list[str]:
        """``words``, then the indexed 2- and 3-character parts of the longer ones, once each."""
        extra = []
        for word in words:
            if len(word) > 2:
                for size in (2, 3):
                    for i in range(len(word) - size + 1):
                        sub = word[i : i + size]
                        if sub != word and self.doc_frequency(sub):
                            extra.append(sub)
        return list(dict.fromkeys([*words, *extra]))

    def _segment_chunk(self, chunk: str) -> list[str]:
        """Most probable segmentation under a unigram model of the index's words.

        A word's probability is its document frequency over the number of
        documents, so a known compound wins over its parts exactly when its
        parts occur together more often than by chance (柏林围墙 stays whole;
        国在, a rare jieba cut, gives way to 国 + 在). A character no word
        covers is skipped at the price of an unseen word.
        """
        n = len(chunk)
        documents = max(2, self.searcher.doc_count())
        unseen = math.log(0.5 / documents)
        best: list[tuple[float, list[str]]] = [(0.0, [])] + [(-math.inf, [])] * n
        for i in range(n):
            score, words = best[i]
            if score == -math.inf:
                continue
            if score + unseen > best[i + 1][0]:
                best[i + 1] = (score + unseen, words)
            for j in range(i + 1, min(n, i + self.MAX_WORD) + 1):
                word = chunk[i:j]
                frequency = self.doc_frequency(word)
                if frequency:
                    candidate = score + math.log(min(frequency, documents) / documents)
                    if candidate > best[j][0]:
                        best[j] = (candidate, words + [word])
        return best[n][1]


def _ranking_words(lexicon: Lexicon, keywords: Sequence[Keyword]) -> list[str]:
    """The words the text keywords rank by: the lexicon's split of each, then of its synonyms and of
    its phrases spelt the other script's way (计划 and 计画), once each."""
    words = [w for k in keywords if not k.title for w in lexicon.segment(k.text)]
    others = [text for k in keywords if not k.title for text in k.alternatives]
    others += [variant for k in keywords if not k.title for text in (k.text, *k.alternatives)
               for variant in analysis.phrase_variants(text)]
    words += list(dict.fromkeys(w for text in others for w in lexicon.segment(text) if w not in words))
    return words


def _ranking_terms(words: Sequence[str]) -> list[tuple[str, str, float]]:
    """(field, word, boost): each word in paragraph text, and in the title, boosted."""
    return [term for word in words for term in (("words", word, 1.0), ("title_words", word, TITLE_BOOST))]


def _partial_query(words: Sequence[str]) -> WordUnion | None:
    """The same, as the query itself: every document with any word, and which words each holds."""
    terms = _ranking_terms(words)
    return WordUnion(terms, recorded_fields=RANKING_FIELDS) if terms else None


def _expanded_query(query: str, synonyms: Synonyms | None, pinyin: bool) -> tuple[Node | None, list[str], Filters]:
    """:func:`parse_query`, each keyword with its synonyms and (on an index with pinyin) its pinyin readings."""
    node, notes, filters = parse_query(query)
    if node is not None and synonyms:
        node, capped = expand_synonyms(node, synonyms)
        notes = [*notes, *capped]
    if node is not None and pinyin:
        node = expand_pinyin(node)
    return node, notes, filters


def run_search(searcher: Any, grams: int, query: str, **options: Any) -> SearchResult:
    """Ranked hits of ``query`` on the index ``searcher`` reads (of the given ``grams`` setting).

    ``offset`` skips that many hits (``total`` counts them all); ``sort`` is
    ``relevance``, ``date`` or ``-date`` (undated articles last either way);
    ``facets`` counts every match by ``source``, ``author``, ``tag``,
    ``year`` or ``month`` (paragraphs, or articles at article level).
    With ``synonyms``, each keyword matches any of its synonyms too; by
    relevance, hits holding more keywords as typed come first. With ``pinyin``
    (an index with pinyin), a keyword that reads as pinyin matches so too,
    after the hits that hold it as typed. ``options`` are :func:`search_part`'s:
    ``limit``, ``offset``, ``level``, ``sort``, ``facets``, ``filters``,
    ``max_chars``, ``synonyms`` and ``pinyin``.
    """
    part = search_part(searcher, grams, query, **options)
    return SearchResult(query=query, total=part.total, hits=part.hits, partial=part.partial,
                        level=options.get("level", "article"), notes=part.notes, offset=options.get("offset", 0),
                        facets=None if part.facets is None else facet_table(part.facets))


@dataclass
class SearchPart:
    """One index's share of a search over several (shards), or the whole of a search over one.

    ``hits`` are rendered in the order of ``keys``, which compare across
    shards (a tie goes to the lower shard, then the lower document number).
    With ``rescored`` (partial matches by relevance), the first
    :data:`RERANK_POOL` (or more) hits of all shards by ``keys`` are then
    re-ordered by it. ``missing`` are terms the global statistics lacked:
    the part is to be asked again with them.
    """

    hits: list[Hit]
    keys: list[tuple[Any, ...]]
    total: int
    partial: bool = False
    notes: list[str] = field(default_factory=list)
    facets: FacetCounts | None = None  # (see facet_table)
    rescored: list[float] | None = None
    keywords: bool = True  # the query has keywords: where no shard has a hit, ask again with fallback=True
    missing: set[tuple[str, bytes]] = field(default_factory=set)


# A ranked document: its number, its score, and its place in the ordering (shard and number last, for ties).
Entry = tuple[int, float, tuple[Any, ...]]


def _check_options(limit: int, offset: int, level: str, sort: str, facets: Sequence[str]) -> None:
    if level not in LEVELS:
        raise QueryError(f"unknown level {level!r}: use paragraph or article")
    if limit < 1 or limit > MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0 or offset > MAX_LIMIT:
        raise QueryError(f"offset must be between 0 and {MAX_LIMIT}")
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}: use relevance, date or -date")
    unknown = [name for name in facets if name not in FACETS]
    if unknown:
        raise QueryError(f"unknown facet {unknown[0]!r}: use {', '.join(FACETS)}")


def search_part(
    searcher: Any,
    grams: int,
    query: str,
    *,
    limit: int = 10,
    offset: int = 0,
    level: str = "article",
    sort: str = "relevance",
    facets: Sequence[str] = (),
    filters: Filters | None = None,
    max_chars: int = 120,
    synonyms: Synonyms | None = None,
    pinyin: bool = False,
    shard: int | None = None,
    fallback: bool | None = None,
) -> SearchPart:
    """:func:`run_search`'s answer on one index; with ``shard`` (its number), that shard's part of it.

    Alone (``shard`` None), the hits are the page ``offset`` to ``offset +
    limit``, in their final order, and the partial fallback runs when
    nothing has every keyword. As a shard, the hits are its first ``offset +
    limit`` (its first :data:`RERANK_POOL` or more, with ``rescored``, for
    partial matches) for the caller to merge, and ``fallback`` says which
    search runs: False the exact one only, True the partial one only.
    """
    _check_options(limit, offset, level, sort, facets)
    alone = shard is None
    tie = 0 if shard is None else shard
    node, notes, query_filters = _expanded_query(query, synonyms, pinyin)
    filters = (filters or Filters()).also(query_filters)
    lexicon = Lexicon(searcher)
    keywords = positive_keywords(node) if node is not None else []
    words = _ranking_words(lexicon, keywords)
    needles = sorted({text for k in keywords if not k.title for text in (k.text, *k.alternatives)}, key=len, reverse=True)
    allowed = filters.query() if filters else None
    expanded = [k for k in keywords if k.alternatives or k.pinyin]
    wanted = offset + limit

    entries: list[Entry] = []
    total = 0
    matched: Query | None = None
    fields: dict[int, dict[str, Any]] = {}
    rescored: list[float] | None = None
    if fallback is not True:
        if level == "article" and node is not None:
            entries, total, matched = _article_page(searcher, node, grams, allowed, words, sort, tie, expanded, wanted)
        else:
            if node is None:  # filters only: every paragraph they let through
                scored = every("kind", "paragraph")
                if allowed is not None:
                    scored = restricted(scored, allowed)
                matched = scored
            else:
                # No kind filter: only paragraph documents have the analyzed fields.
                required = _filter(node, grams)
                if allowed is not None:  # inside the ranked filter: its fast path stays
                    required = restricted(required, allowed)
                ranking = _ranking_terms(words)
                scored = RankedFilter(boosted(required, GRAMS_WEIGHT), ranking) if ranking else required
                matched = required  # the same documents, unscored: what facets count
            if expanded and sort == "relevance" and node is not None:
                entries, total = _typed_first_page(searcher, scored, expanded, grams, tie)
            else:
                entries, total, _rescored, fields = _page(searcher, scored, wanted, level, sort, tie)
    partial = False
    if total == 0 and node is not None and fallback is not False:
        asked = [QUESTION_PHRASES.sub(" ", k.text) for k in keywords if not k.title]
        main = [lexicon.main_words(text) for text in asked]
        spelt = [(text, variant, lexicon.main_words(variant)) for text in asked for variant in analysis.phrase_variants(text)]
        fallback_words = [w for found in [*main, *(found for _t, _v, found in spelt)]
                          for w in lexicon.with_sub_words(found) if w not in QUESTION_WORDS]
        fallback_words = list(dict.fromkeys(fallback_words)) or list(dict.fromkeys(words))
        partial_query, union = _fallback_query(fallback_words, keywords, node, grams)
        if partial_query is not None:
            if allowed is not None:
                partial_query = restricted(partial_query, allowed)
            core = [w for found in main for w in found if w not in QUESTION_WORDS]
            core = list(dict.fromkeys(core)) or fallback_words
            weights = {w: lexicon.idf(w) for w in core}
            same = _same_words(spelt, set(core))
            phrasing = _question_bigrams(asked, spelt)

            def rerank(found: list[Ranked]) -> list[float]:
                return _coverage_scores(found, weights, phrasing, same)

            entries, total, rescored, fields = _page(searcher, partial_query, wanted, level, sort, tie,
                                                     union=union, rerank=rerank)
            matched = partial_query
            partial = total > 0
            if partial:
                notes.append(PARTIAL_NOTE)
                needles = sorted(set(needles) | set(fallback_words), key=len, reverse=True)

    scores = [score for _docnum, score, _key in entries]
    if rescored is not None:
        scores = rescored
        if alone:  # the pool re-ordered by coverage (a stable sort: equal scores keep their order)
            order = sorted(range(len(entries)), key=lambda i: -rescored[i])  # type: ignore[index]
            entries = [entries[i] for i in order]
            scores = [rescored[i] for i in order]
    shown = range(offset, min(wanted, len(entries))) if alone else range(len(entries) if rescored else min(wanted, len(entries)))
    results = [(entries[i][0], fields.get(entries[i][0]) or searcher.stored_fields(entries[i][0]), scores[i]) for i in shown]
    title_needles = sorted({text for k in keywords for text in (k.text, *k.alternatives)}, key=len, reverse=True)
    hits = _hits(searcher, results, needles, title_needles, max_chars, _pinyin_needles(results, keywords))
    counted = None
    if facets:
        counted = _facets(searcher, matched, "paragraph" if level == "article" and node is not None and not partial
                          else level, facets) if matched is not None else {name: {} for name in facets}
    missing = set(getattr(searcher, "missing", ()))
    return SearchPart(hits=hits, keys=[entries[i][2] for i in shown], total=total, partial=partial, notes=notes,
                      facets=counted, rescored=None if alone or rescored is None else [scores[i] for i in shown],
                      keywords=node is not None, missing=missing)


def _article_page(searcher: Any, node: Node, grams: int, allowed: Query | None, words: list[str],
                  sort: str, tie: int, expanded: Sequence[Keyword] = (), wanted: int | None = None,
                  ) -> tuple[list[Entry], int, Query]:
    """Articles in which each keyword is in the title or in some paragraph (not
    necessarily the same one), ranked by their best paragraph, in order (the
    first ``wanted`` of them, where given); their number; and a query of one
    paragraph per matched article (for facets).

    A paragraph ranks by the query's words (text and title) and the exact
    keywords it holds; an article whose title alone holds a keyword is
    represented by its opening paragraph. Of the ``expanded`` keywords (those
    with synonyms), articles holding more as typed rank first.
    """
    def articles_of(q: Query) -> dict[Hashable, list[int]]:
        docnums = matching(searcher, q)
        found: dict[Hashable, list[int]] = {}
        for docnum, article in zip(docnums, article_keys(searcher, docnums)):
            found.setdefault(article, []).append(docnum)
        return found

    def narrowed(q: Query) -> Query:
        # Every paragraph carries its article's metadata: filtering paragraphs filters articles.
        return restricted(q, allowed) if allowed is not None else q

    in_text: dict[str, dict[Hashable, list[int]]] = {}  # keyword -> article -> its paragraphs holding it
    # keyword -> article whose title holds it -> its paragraphs (each paragraph carries its article's title)
    in_title: dict[str, dict[Hashable, list[int]]] = {}

    def holding(keyword: Keyword, record: bool = True) -> set[Hashable]:
        # (Of each article whose title holds it, its opening paragraph is enough: see below.)
        titled = articles_of(narrowed(exact_query(replace(keyword, title=True), grams, openings=True)))
        if record:
            in_title[keyword.text] = titled
        found = set(titled)
        if not keyword.title:
            in_paragraphs = articles_of(narrowed(exact_query(replace(keyword, title=False), grams)))
            if record:
                in_text[keyword.text] = in_paragraphs
            found |= set(in_paragraphs)
        return found

    universe: list[set[Hashable]] = []

    def everything() -> set[Hashable]:
        if not universe:
            universe.append(set(articles_of(narrowed(every("kind", "paragraph")))))
        return universe[0]

    def evaluate(part: Node) -> set[Hashable]:
        if isinstance(part, Keyword):
            return holding(part)
        if isinstance(part, Not):
            return everything() - evaluate(part.node)
        if isinstance(part, And):
            positives = [evaluate(n) for n in part.nodes if not isinstance(n, Not)]
            kept = set.intersection(*positives) if positives else everything()
            for n in part.nodes:
                if isinstance(n, Not):
                    kept -= evaluate(n.node)
            return kept
        return set().union(*(evaluate(n) for n in part.nodes))

    ranking = _ranking_terms(words)

    def ranked(required: Query) -> list[tuple[int, float]]:
        return all_matches(searcher, RankedFilter(required, ranking) if ranking else required)

    best: list[tuple[int, float]]
    if isinstance(node, Keyword) and not node.title and allowed is None:
        # Every paragraph holding it is a candidate: scored once, no set of candidates to test them against.
        found = ranked(boosted(exact_query(node, grams), GRAMS_WEIGHT))
        by_article = _best_per_article(found, article_keys(searcher, [docnum for docnum, _score in found]))
        titled = articles_of(exact_query(replace(node, title=True), grams, openings=True))
        # The opening paragraph of each article that only its title matched represents it.
        openings = {docnums[0]: article for article, docnums in titled.items() if article not in by_article}
        if openings:
            by_article.update((openings[docnum], (docnum, score)) for docnum, score in ranked(documents(sorted(openings))))
        best = sorted(by_article.values())
    else:
        matched = evaluate(node)
        # Each matched article's paragraphs that hold a keyword; its opening one where only its title does.
        candidates: list[int] = []
        for article in matched:
            held = [docnum for by_article in in_text.values() for docnum in by_article.get(article, ())]
            if not held:
                # Its paragraphs are those its title's keyword matched (no lookup of the article's documents),
                # written in order in one segment, which merges keep: the first is its opening one.
                held = [next(by_article[article][0] for by_article in in_title.values() if article in by_article)]
            candidates.extend(held)
        exact = [exact_query(k, grams) for k in positive_keywords(node) if not k.title]
        chosen = documents(candidates)
        required = restricted(any_of([boosted(q, GRAMS_WEIGHT) for q in exact] + [chosen]), chosen) if exact else chosen
        best = _per_level(searcher, ranked(required), "article")
    ordered: list[Entry]
    if sort == "relevance" and expanded:
        typed = [holding(as_typed(k), record=False) for k in expanded]
        articles = article_keys(searcher, [docnum for docnum, _score in best])
        tiers = {docnum: sum(article in held for held in typed) for (docnum, _score), article in zip(best, articles)}
        ordered = sorted(((d, s, (-tiers[d], -s, tie, d)) for d, s in best), key=lambda entry: entry[2])
    elif sort == "relevance":
        ranked_first = ((d, s, (-s, tie, d)) for d, s in best)
        if wanted is not None and wanted < len(best):
            ordered = heapq.nsmallest(wanted, ranked_first, key=lambda entry: entry[2])
        else:
            ordered = sorted(ranked_first, key=lambda entry: entry[2])
    else:
        ordered = _by_date(searcher, best, sort, tie)
    return ordered, len(best), documents([docnum for docnum, _score in best])


def _by_date(searcher: Any, matches: list[tuple[int, float]], sort: str, tie: int) -> list[Entry]:
    """Oldest (``date``) or newest (``-date``) first; on one date, the better match; undated last either way."""
    dates = column_values(searcher, "f_date", [docnum for docnum, _score in matches])
    ordered: list[Entry] = []
    for (docnum, score), date in zip(matches, dates):
        if date:
            when = date[0] if sort == "date" else _descending(date[0])
            ordered.append((docnum, score, (0, when, -score, tie, docnum)))
        else:
            ordered.append((docnum, score, (1, -score, tie, docnum)))
    ordered.sort(key=lambda entry: entry[2])
    return ordered


def _page(searcher: Any, q: Query, wanted: int, level: str, sort: str, tie: int, union: WordUnion | None = None,
          rerank: Any = None) -> tuple[list[Entry], int, list[float] | None, dict[int, dict[str, Any]]]:
    """The first ``wanted`` hits in order (at least :data:`RERANK_POOL` with ``rerank``), the total,
    ``rerank``'s scores of those hits, and the stored fields read on the way."""
    if sort == "relevance":
        found, total = collect(searcher, q, max(wanted, RERANK_POOL) if rerank else wanted, level, union=union)
        entries = [(docnum, score, (-score, tie, docnum)) for docnum, _fields, score, _matched in found]
        return entries, total, rerank(found) if rerank else None, {docnum: fields for docnum, fields, _s, _m in found}
    ordered = _by_date(searcher, _per_level(searcher, all_matches(searcher, q), level), sort, tie)
    return ordered, len(ordered), None, {}


def _typed_first_page(searcher: Any, q: Query, expanded: Sequence[Keyword], grams: int, tie: int) -> tuple[list[Entry], int]:
    """Paragraphs by relevance, those holding more of the ``expanded`` keywords as typed (not only a synonym) first."""
    typed = [searcher.docs_for_query(exact_query(as_typed(k), grams)) for k in expanded]
    held = [found if isinstance(found, set) else set(found) for found in typed]
    ordered = sorted(((d, s, (-sum(d in h for h in held), -s, tie, d)) for d, s in all_matches(searcher, q)),
                     key=lambda entry: entry[2])
    return ordered, len(ordered)


def _descending(date: str) -> tuple[int, ...]:
    """A key that sorts ISO dates newest first, a day before its month and year (as ascending puts them after)."""
    return tuple(-ord(char) for char in date) + (1,)


def _per_level(searcher: Any, matches: list[tuple[int, float]], level: str) -> list[tuple[int, float]]:
    """At article level, each article's best paragraph (the best score; the first on a tie)."""
    if level == "paragraph":
        return matches
    return sorted(_best_per_article(matches, article_keys(searcher, [d for d, _s in matches])).values())


def _best_per_article(matches: list[tuple[int, float]], articles: list[Hashable]) -> dict[Hashable, tuple[int, float]]:
    """Per article (``articles[i]``: the key of ``matches[i]``'s), its best match: the best score, the first on a tie."""
    best: dict[Hashable, tuple[int, float]] = {}
    for (docnum, score), article in zip(matches, articles):
        if article not in best or score > best[article][1]:
            best[article] = (docnum, score)
    return best


def _pinyin_needles(results: list[tuple[int, dict[str, Any], float]], keywords: Sequence[Keyword]) -> dict[int, list[str]]:
    """Per hit, the text its keywords read as pinyin matched (normalized, as needles)."""
    found: dict[int, list[str]] = {}
    for keyword in keywords:
        for query in keyword.pinyin_queries:
            for docnum, doc, _score in results:
                starts = query.found.get(docnum)
                if starts:
                    stream = analysis.gram_stream(analysis.fold(doc["text"]))[0]
                    found.setdefault(docnum, []).extend(stream[p:p + len(query.units)] for p in starts)
    return found


def _hits(searcher: Any, results: list[tuple[int, dict[str, Any], float]], needles: list[str],
          title_needles: list[str], max_chars: int, more: dict[int, list[str]] | None = None) -> list[Hit]:
    docnums = [docnum for docnum, _fields, _score in results]
    metadata = {name: column_values(searcher, name, docnums) for name in ("f_date", "f_source", "f_author", "f_tag")}
    hits = []
    for position, (docnum, doc, score) in enumerate(results):
        title = doc.get("title") or ""
        found = (more or {}).get(docnum)
        shown = sorted(set(needles) | set(found), key=len, reverse=True) if found else needles
        date, source = metadata["f_date"][position], metadata["f_source"][position]
        hits.append(Hit(
            article_id=doc["article_id"],
            paragraph=doc["ordinal"],
            title=title,
            score=score,
            snippet=make_snippet(doc["text"], shown, max_chars=max_chars),
            path=doc.get("source"),
            date=date[0] if date else None,
            source=source[0] if source else None,
            authors=list(metadata["f_author"][position]),
            tags=list(metadata["f_tag"][position]),
            title_highlights=merge_spans([(start, end) for start, end, _n in find_spans(title, title_needles)]),
        ))
    return hits


def _facets(searcher: Any, q: Query, level: str, names: Sequence[str]) -> FacetCounts:
    """How many matches (paragraphs, or articles) hold each value, over every match of ``q``, per spelling."""
    docnums = matching(searcher, q)
    if level == "article":
        first: dict[Hashable, int] = {}
        for docnum, article in zip(docnums, article_keys(searcher, docnums)):
            first.setdefault(article, docnum)
        docnums = sorted(first.values())
    counted: FacetCounts = {}
    for name in names:
        field = {"source": "f_source", "author": "f_author", "tag": "f_tag"}.get(name, "f_date")
        counts: dict[str, dict[str, int]] = {}
        prefix = {"year": 4, "month": 7}.get(name)  # (counted from the column's bytes)
        for values, held in column_counts(searcher, field, docnums, prefix):
            if name == "year":
                values = [values[0][:4]] if values else []
            elif name == "month":
                values = [values[0][:7]] if values and len(values[0]) >= 7 else []
            for value in dict.fromkeys(values):
                spellings = counts.setdefault(analysis.fold(value).strip(), {})
                spellings[value] = spellings.get(value, 0) + held
        counted[name] = counts
    return counted


def add_facet_counts(counted: Sequence[FacetCounts]) -> FacetCounts:
    """Facet counts of several indexes (shards) added up."""
    total: FacetCounts = {}
    for counts in counted:
        for name, values in counts.items():
            into = total.setdefault(name, {})
            for key, spellings in values.items():
                kept = into.setdefault(key, {})
                for spelling, count in spellings.items():
                    kept[spelling] = kept.get(spelling, 0) + count
    return total


def facet_table(counted: FacetCounts) -> dict[str, dict[str, int]]:
    """Per facet, each value (values equal once folded are one, shown as most of its matches spell it,
    then the first in code-point order) with its matches, most first."""
    shown: dict[str, dict[str, int]] = {}
    for name, values in counted.items():
        table = {min(spellings, key=lambda spelling: (-spellings[spelling], spelling)): sum(spellings.values())
                 for spellings in values.values()}
        shown[name] = dict(sorted(table.items(), key=lambda item: (-item[1], item[0])))
    return shown


def _question_bigrams(asked: Sequence[str], spelt: Sequence[tuple[str, str, list[str]]]) -> list[set[str]]:
    """The question's character bigrams, each with its other spellings (at its place in a variant text)."""
    bigrams: dict[str, set[str]] = {}
    for text in asked:
        for chunk in re.finditer(r"\w+", text):
            for i in range(chunk.start(), chunk.end() - 1):
                bigrams.setdefault(text[i:i + 2], {text[i:i + 2]})
    for text, variant, _words in spelt:
        for chunk in re.finditer(r"\w+", text):
            for i in range(chunk.start(), chunk.end() - 1):
                bigrams[text[i:i + 2]].add(variant[i:i + 2])
    return list(bigrams.values())


def _same_words(spelt: Sequence[tuple[str, str, list[str]]], core: set[str]) -> dict[str, str]:
    """Of the variant texts' words, those in the place of a question word: the word they stand for."""
    same: dict[str, str] = {}
    for text, variant, words in spelt:
        at = 0
        for word in words:
            start = variant.find(word, at)
            at = start + len(word)
            original = text[start:at]
            if original != word and original in core:
                same[word] = original
    return same


def _coverage_scores(results: list[Ranked], weights: dict[str, float], bigrams: Sequence[set[str]],
                     same: dict[str, str]) -> list[float]:
    """Each partial match's score scaled by how much of the question it holds.

    Two shares: of the question's words, idf-weighted (holding the one rare
    word counts more than holding the common ones; BM25 alone lets many
    repeats of one word beat a paragraph with every word), and of the
    question's character ``bigrams`` found in title or text, which rewards the
    question's own phrasing whatever jieba made of it (孙中山的故乡 written
    just so in the answer). A word or bigram spelt the other script's way
    (``same``: 计画 for 计划) counts as the question's.
    """
    total = sum(weights.values())
    if total <= 0:
        return [score for _docnum, _doc, score, _matched in results]
    scores = []
    for _docnum, doc, score, matched in results:
        held = matched | {same[word] for word in matched if word in same} if same else matched
        share = sum(weight for word, weight in weights.items() if word in held) / total
        phrasing = 1.0
        if bigrams:
            text = analysis.fold(f"{doc.get('title') or ''}\n{doc['text']}")
            phrasing += BIGRAM_WEIGHT * sum(1 for spellings in bigrams if any(g in text for g in spellings)) / len(bigrams)
        scores.append(score * share**COVERAGE_POWER * phrasing)
    return scores


def _fallback_query(
    words: Sequence[str], keywords: Sequence[Keyword], node: Node, grams: int
) -> tuple[Query | None, WordUnion | None]:
    """The partial-match query, and the union of its words (it knows which words each hit holds)."""
    ranking = _partial_query(words)
    if ranking is None:
        return None, None
    titles = [exact_query(k, grams) for k in keywords if k.title]
    q: Query = all_of([ranking, *titles]) if titles else ranking
    negatives = _negatives(node, grams)
    if negatives:
        q = excluding(q, any_of(negatives) if len(negatives) > 1 else negatives[0])
    return q, ranking


# --------------------------------------------------------------------------
# Explaining


@dataclass
class KeywordPlan:
    """How one keyword is matched: exactly, as ``grams`` in ``field``; ranked by ``words`` (the lexicon's split)."""

    keyword: str
    field: str
    grams: list[str]
    words: list[str]
    synonyms: list[str] = field(default_factory=list)  # alternatives it matches too (exactly)
    pinyin: str = ""  # what it matches read as pinyin, per character (zhu f*), when it does


@dataclass
class QueryPlan:
    """What a search does with a query on one index (``analyze --query``)."""

    query: str
    normalized: str
    keywords: list[KeywordPlan]
    ranking_words: list[tuple[str, int]]  # (word, its document frequency in text plus that in titles)
    notes: list[str]
    filters: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "normalized": self.normalized,
            "keywords": [{key: value for key, value in plan.__dict__.items() if key not in ("synonyms", "pinyin") or value}
                         for plan in self.keywords],
            "ranking_words": [{"word": word, "doc_frequency": frequency} for word, frequency in self.ranking_words],
            "filters": self.filters,
            "notes": self.notes,
        }


def statistics_keys(searcher: Any, grams: int, query: str, synonyms: Synonyms | None = None,
                    pinyin: bool = False) -> list[tuple[str, bytes]]:
    """The terms whose document frequencies a search of ``query`` reads (as :func:`search_part`
    runs it, partial fallback included): every word the lexicon can try, every exact gram.

    A sharded search sums them over the shards first. Terms of pinyin
    readings are not listed: a search that needs them reports them missing.
    """
    node, _notes, _filters = _expanded_query(query, synonyms, pinyin)
    if node is None:
        return []
    schema = searcher.schema
    texts: dict[str, None] = {}
    gram_terms: dict[tuple[str, str], None] = {}

    def visit(part: Node) -> None:
        if isinstance(part, Keyword):
            for text in (part.text, *part.alternatives):
                texts[text] = None
                texts.update(dict.fromkeys(analysis.phrase_variants(text)))
                for title in (False, True):
                    kind = replace(part, title=title)
                    for term in keyword_terms(kind, grams, text):
                        gram_terms[("title_grams" if title else "grams", term)] = None
            asked = QUESTION_PHRASES.sub(" ", part.text)
            texts[asked] = None
            texts.update(dict.fromkeys(analysis.phrase_variants(asked)))
        elif isinstance(part, Not):
            visit(part.node)
        else:
            for child in part.nodes:
                visit(child)

    visit(node)
    words = {chunk[i:j] for text in texts for chunk in re.findall(r"\w+", text)
             for i in range(len(chunk)) for j in range(i + 1, min(len(chunk), i + Lexicon.MAX_WORD) + 1)}
    keys = [(fieldname, word) for word in sorted(words) for fieldname in RANKING_FIELDS] + list(gram_terms)
    found = [(fieldname, term_bytes(schema, fieldname, text)) for fieldname, text in keys]
    return [(fieldname, btext) for fieldname, btext in found if btext is not None]


def explain_query(searcher: Any, grams: int, query: str, synonyms: Synonyms | None = None,
                  pinyin: bool = False) -> QueryPlan:
    """The keywords, their exact grams and synonyms, and the ranking words :func:`run_search` uses,
    with their document frequencies."""
    node, notes, filters = _expanded_query(query, synonyms, pinyin)
    lexicon = Lexicon(searcher)
    keywords = positive_keywords(node) if node is not None else []
    plans = [
        KeywordPlan(k.text, "title" if k.title else "text", keyword_terms(k, grams), [] if k.title else lexicon.main_words(k.text),
                    list(k.alternatives), " | ".join(describe_units(units) for units in k.pinyin))
        for k in keywords
    ]
    ranking = [(word, lexicon.doc_frequency(word)) for word in _ranking_words(lexicon, keywords)]
    return QueryPlan(query, analysis.fold(query), plans, ranking, notes, filters.describe())
