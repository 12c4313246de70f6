"""Suffix arrays: the same documents and scores as the character postings, on every kind of segment.

Since schema version 3 a segment of an index of characters has the arrays
and no postings of its characters; ``postings_twin`` is the same index as
searchkit wrote it before (postings, no arrays), to compare with.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from whoosh import query as wq
from whoosh import scoring
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.structfile import StructFile

from searchkit import AnalyzerSettings, Article, SearchIndex
from searchkit.engine import store as store_module
from searchkit.engine import suffixes
from searchkit.analysis import fold, gram_stream
from searchkit.engine.matchers import CharPhrase
from searchkit.engine.suffixes import MAGIC_WITH_POSTINGS, PREFIX, SuffixTable, build_suffix_file, segment_suffixes

from .conftest import SEED, postings_codec
from .test_reliability import assert_answered_or_damaged, cli_main

# Common characters (long postings lists), a character outside the BMP, Latin, digits, white space.
ALPHABET = "山水明月人不知风花𠀀ab1 "
# Two texts that share more than the suffixes' sort prefix, then part.
LONG = "一二三四五六七八九十甲乙丙丁戊己庚辛"


def _text(chooser: random.Random, low: int = 4, high: int = 40) -> str:
    return "".join(chooser.choice(ALPHABET) for _ in range(chooser.randint(low, high))).strip() or "山"


def _corpus(count: int, seed: int, prefix: str = "p") -> list[Article]:
    chooser = random.Random(seed)
    return [Article(id=f"{prefix}{n}", title="", paragraphs=[_text(chooser) for _ in range(3)]) for n in range(count)]


def _leaves(ix: SearchIndex) -> list[object]:
    return [leaf for leaf, _offset in ix.searcher().reader().leaf_readers()]


def _scored(ix: SearchIndex, q: wq.Query) -> dict[int, float]:
    return {hit.docnum: hit.score for hit in ix.searcher().search(q, limit=None)}


def _holding(ix: SearchIndex, keyword: str) -> set[int]:
    return {
        docnum
        for docnum, fields in ix.searcher().reader().iter_docs()
        if fields.get("kind") == "paragraph" and keyword in gram_stream(fold(fields["text"]))[0]
    }


def _keywords(ix: SearchIndex, count: int, seed: int) -> list[str]:
    """Substrings of the texts: short ones, and longer than the suffixes' sort prefix."""
    chooser = random.Random(seed)
    streams = [gram_stream(fold(fields["text"]))[0] for _d, fields in ix.searcher().reader().iter_docs() if fields.get("kind") == "paragraph"]
    found = []
    while len(found) < count:
        stream = chooser.choice(streams)
        size = chooser.choice([2, 3, 4, PREFIX, PREFIX + 3])
        if len(stream) >= size:
            start = chooser.randrange(len(stream) - size + 1)
            piece = stream[start : start + size]
            if piece.strip() == piece:
                found.append(piece)
    return found + ["山山", "明月不", "𠀀a", "月 花", "水水水水水水水水水水水水水水水水水水水", LONG, LONG[:PREFIX] + "壬"]


def _three_segments() -> SearchIndex:
    """An index of characters in three segments, some articles deleted, one replaced."""
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=1))
    ix.add_articles(_corpus(300, 1))
    ix.add_articles(_corpus(200, 2, prefix="q"))
    ix.add_articles([Article(id="p5", title="", paragraphs=["雪山独钓", "钓雪 山", LONG + "山", LONG[:PREFIX] + "壬癸"])])
    for n in range(0, 300, 7):
        ix.delete(f"p{n}")
    return ix


@pytest.fixture(scope="module")
def chars() -> SearchIndex:
    return _three_segments()


@pytest.fixture(scope="module")
def postings_twin() -> Iterator[SearchIndex]:
    """``chars`` with the characters' postings and no suffix arrays: the same documents, numbered alike."""
    with pytest.MonkeyPatch.context() as older:
        older.setattr(store_module, "make_codec", postings_codec)
        ix = _three_segments()
    assert [segment_suffixes(leaf) for leaf in _leaves(ix)] == [None, None, None]
    yield ix


def test_every_segment_of_a_character_index_has_suffix_arrays(chars: SearchIndex) -> None:
    leaves = _leaves(chars)
    assert len(leaves) == 3
    assert all(segment_suffixes(leaf) is not None for leaf in leaves)


def test_an_index_of_bigrams_has_none() -> None:
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=2))
    ix.add_articles(_corpus(20, 3))
    assert [segment_suffixes(leaf) for leaf in _leaves(ix)] == [None]


def test_same_documents_and_scores_as_the_postings(chars: SearchIndex, postings_twin: SearchIndex) -> None:
    keywords = _keywords(chars, 60, 4) + ["，山", "山，", " 山", "，"]
    ours = {keyword: _scored(chars, CharPhrase("grams", list(keyword), boost=0.3)) for keyword in keywords}
    whoosh = {keyword: _scored(postings_twin, wq.Phrase("grams", list(keyword), slop=1, boost=0.3)) for keyword in keywords}
    for keyword in keywords:
        assert set(ours[keyword]) == set(whoosh[keyword]) == _holding(chars, keyword), keyword
        assert ours[keyword] == pytest.approx(whoosh[keyword], rel=1e-12), keyword
    assert sum(1 for found in ours.values() if found) > 50
    # And CharPhrase on the postings (segments without arrays) agrees to the last bit.
    postings = {keyword: _scored(postings_twin, CharPhrase("grams", list(keyword), boost=0.3)) for keyword in keywords}
    assert postings == ours
    # Whoosh's other scorers score the arrays' matches as they score postings.
    for keyword in keywords[:20]:
        for weighting in (scoring.TF_IDF(), scoring.Frequency()):
            found = ours_with(chars, keyword, weighting)
            assert found == pytest.approx(ours_with(postings_twin, keyword, weighting), rel=1e-12) and set(found) == set(ours[keyword])


def ours_with(ix: SearchIndex, keyword: str, weighting: object) -> dict[int, float]:
    with ix.store._ix.searcher(weighting=weighting) as searcher:
        return {hit.docnum: hit.score for hit in searcher.search(CharPhrase("grams", list(keyword)), limit=None)}


def test_the_characters_statistics_are_the_postings(chars: SearchIndex, postings_twin: SearchIndex) -> None:
    # No postings in the segments with arrays, and each character's term
    # info as its postings gave it (what scoring reads: the document
    # frequency; also the rest, for any other reader).
    stats = ("weight", "doc_frequency", "min_length", "max_length", "max_weight", "min_id", "max_id")
    checked = 0
    for ours, theirs in zip(_leaves(chars), _leaves(postings_twin)):
        assert list(ours.lexicon("grams")) == list(theirs.lexicon("grams"))
        for term in ours.lexicon("grams"):
            info, expected = ours.term_info("grams", term), theirs.term_info("grams", term)
            assert [getattr(info, name)() for name in stats] == [getattr(expected, name)() for name in stats], term
            assert list(ours.postings("grams", term).all_ids()) == []
            checked += 1
    assert checked > 30


def test_searches_alike_with_and_without_suffix_arrays(chars: SearchIndex, postings_twin: SearchIndex) -> None:
    queries = _keywords(chars, 30, 5) + ['"月 花" 山', "明月 -不知", "山水 OR 𠀀a", '" 山"', '"，山水"', "山", "𠀀"]
    assert [chars.search(q, level="paragraph").to_json() for q in queries] == [postings_twin.search(q, level="paragraph").to_json() for q in queries]


def test_merged_and_chunked_segments_answer_as_the_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suffixes, "CHUNK_CHARS", 500)  # many chunks per segment
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=1))
    ix.add_articles(_corpus(120, 6))
    ix.add_articles(_corpus(80, 7, prefix="q"))
    for n in range(0, 120, 5):
        ix.delete(f"p{n}")
    ix.optimize()  # the merge builds the merged segment's arrays from the inputs', deleted documents left out
    [leaf] = _leaves(ix)
    table = segment_suffixes(leaf)
    assert table is not None and len(table.chunks) > 10
    for keyword in _keywords(ix, 40, 8):
        assert set(_scored(ix, CharPhrase("grams", list(keyword)))) == _holding(ix, keyword), keyword


def test_segments_without_suffix_arrays_answer_through_postings(monkeypatch: pytest.MonkeyPatch) -> None:
    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=1))
    with monkeypatch.context() as older:  # as a searchkit before suffix arrays wrote it
        older.setattr(store_module, "make_codec", postings_codec)
        ix.add_articles(_corpus(60, 9))
    ix.add_articles(_corpus(60, 10, prefix="q"))
    assert [segment_suffixes(leaf) is None for leaf in _leaves(ix)] == [True, False]
    assert (ix.stats().segments, ix.stats().suffix_segments, ix.stats().segments_without_arrays) == (2, 1, 1)
    keywords = _keywords(ix, 30, 11)
    for keyword in keywords:
        assert set(_scored(ix, CharPhrase("grams", list(keyword)))) == _holding(ix, keyword), keyword
    ix.optimize()  # the input without arrays: its streams from its stored texts
    assert [segment_suffixes(leaf) is None for leaf in _leaves(ix)] == [False]
    for keyword in keywords:
        assert set(_scored(ix, CharPhrase("grams", list(keyword)))) == _holding(ix, keyword), keyword


def test_suffixes_are_ordered_by_their_prefix() -> None:
    chooser = random.Random(12)
    streams = ["".join(chooser.choice("ab𠀀\x00 ，ﾀ") for _ in range(chooser.randint(0, 30))) for _ in range(50)]
    data = build_suffix_file(streams)
    table = SuffixTable(data, 0, len(data), len(streams))
    [chunk] = table.chunks
    text = "\x00".join(streams) + "\x00"
    encoded = text.encode("utf-16-be")
    assert chunk.source[chunk.text_at : chunk.text_at + len(encoded)] == encoded
    units = [sum(2 if c > "\uffff" else 1 for c in text[:at]) for at in range(len(text))]
    expected = sorted((units[at] for at, char in enumerate(text) if char.isalnum()), key=lambda u: encoded[2 * u : 2 * u + 2 * PREFIX])
    assert list(chunk.suffixes) == expected
    assert list(table.streams()) == streams
    assert table.problem(streams) is None
    assert table.problem(streams[:-1] + ["x"]) == "its texts differ from the stored paragraphs"
    keywords = ("a", "ab", "b𠀀", "𠀀 a", "ba b", "ﾀ", "ﾀ𠀀", "𠀀ﾀa", "bb", "b")
    # Twice, the second time longest first: a chunk remembers each first code unit's range.
    for keyword in keywords + tuple(sorted(keywords, key=len, reverse=True)):
        assert [doc for doc, _stream in table.holding(keyword)] == [d for d, s in enumerate(streams) if keyword in s]
    assert set(chunk.buckets) == {char.encode("utf-16-be")[:2] for char in "abﾀ𠀀"}
    # A phrase opening with what no suffix starts with: from its first letter on, then checked.
    for phrase in ("，a", " ab", "\uff0c", "，", " ", "a ", "x，"):
        assert [doc for doc, _stream in table.holding_phrase(phrase)] == [d for d, s in enumerate(streams) if phrase in s], phrase
    assert not table.with_postings


def test_a_suffix_file_of_a_segment_with_postings_reads_alike() -> None:
    streams = ["山水", "", "水，山"]
    data = build_suffix_file(streams, MAGIC_WITH_POSTINGS)
    table = SuffixTable(data, 0, len(data), len(streams))
    assert table.with_postings
    assert [doc for doc, _stream in table.holding_phrase("水")] == [0, 2]
    assert [doc for doc, _stream in table.holding_phrase("，山")] == [2]


def _suffix_file_range(segment: Path) -> tuple[int, int]:
    """Where the segment's ``.sfx`` file lies in its compound file: (start, length)."""
    with segment.open("rb") as handle:
        directory = CompoundStorage(StructFile(handle), use_mmap=False)
        [name] = [name for name in directory.list() if name.endswith(suffixes.EXTENSION)]
        found = directory.range(name)
        directory.close()
    return found  # type: ignore[no-any-return]


def _index_with_a_damaged_header(path: Path, seed: int) -> None:
    """An index of characters on disk, one segment, the magic of its suffix file spoilt."""
    ix = SearchIndex.create(path, settings=AnalyzerSettings(grams=1))
    ix.add_articles(_corpus(40, seed))
    ix.close()
    [segment_file] = path.glob("*.seg")
    at = _suffix_file_range(segment_file)[0]
    data = bytearray(segment_file.read_bytes())
    assert data[at : at + 8] == suffixes.MAGIC
    data[at] ^= 0xFF
    segment_file.write_bytes(bytes(data))


def test_a_damaged_suffix_file_is_one_line_and_check_finds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ix"
    _index_with_a_damaged_header(path, 13)
    with SearchIndex(path) as damaged:
        with pytest.raises(ValueError, match=r"^suffix file: bad header"):
            damaged.search("山水", level="paragraph")
        report = damaged.check()
    assert not report.ok
    assert any("the suffix arrays are damaged (they cannot be read (ValueError))" in problem for problem in report.problems)
    assert cli_main(capsys, monkeypatch, "--index", str(path), "search", "山水") == (
        3,
        "",
        f"Error: index at {path} is damaged (ValueError): rebuild it with `searchkit --index {path} reindex` "
        "(if that fails, delete it and index your files again)\n",
    )
    code, out, _err = cli_main(capsys, monkeypatch, "--index", str(path), "reindex")
    assert code == 0, out
    assert cli_main(capsys, monkeypatch, "--index", str(path), "check")[0] == 0
    assert SearchIndex(path).stats().suffix_segments == 1


def test_a_merge_with_a_damaged_suffix_file_keeps_every_document(tmp_path: Path) -> None:
    path = tmp_path / "ix"
    _index_with_a_damaged_header(path, 14)
    ix = SearchIndex(path)
    ix.add_articles(_corpus(40, 15, prefix="q"))
    ix.optimize()  # the damaged input's streams from its stored texts
    assert (ix.stats().segments, ix.stats().suffix_segments) == (1, 1)
    for keyword in _keywords(ix, 20, 16):
        assert set(_scored(ix, CharPhrase("grams", list(keyword)))) == _holding(ix, keyword), keyword
    assert ix.check().ok


def test_damage_inside_the_suffix_file_never_gives_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    template = tmp_path / "template"
    assert cli_main(capsys, monkeypatch, "--index", str(template), "index", str(SEED))[0] == 0
    [segment] = template.glob("*.seg")
    start, length = _suffix_file_range(segment)
    assert segment.read_bytes()[start : start + 8] == suffixes.MAGIC and length > 30000
    found = 0
    # The header, the text, the arrays, the chunk directory, the trailer.
    for n, offset in enumerate([0, 9, 20, 2000, 8000, 16000, 30000, length - 60, length - 8]):
        ix = tmp_path / f"ix{n}"
        shutil.copytree(template, ix)
        [damaged] = ix.glob("*.seg")
        with damaged.open("r+b") as handle:
            handle.seek(start + offset)
            handle.write(bytes((i * 37 + 11) % 256 for i in range(min(64, length - offset))))
        for query in ("民族团结", "珠峰", '"日喀则市"'):
            code, _out, err = cli_main(capsys, monkeypatch, "--index", str(ix), "search", query)
            assert_answered_or_damaged(code, err, ix, (offset, query))
        code, out, _err = cli_main(capsys, monkeypatch, "--index", str(ix), "check")
        if code == 3:
            found += 1
            assert "the suffix arrays are damaged" in out, (offset, out)
    assert found == 9  # check finds damage anywhere in the file


def test_check_finds_characters_statistics_that_disagree_with_the_paragraphs(monkeypatch: pytest.MonkeyPatch) -> None:
    from searchkit.engine import terms, writer

    real = writer.char_rows

    def one_off(streams):  # one character's document frequency counted one too many
        rows = real(streams)
        term, row = rows[0]
        header = list(terms._TERMINFO.unpack_from(row))
        header[2] += 1
        return [(term, terms._TERMINFO.pack(*header) + row[terms._TERMINFO.size :]), *rows[1:]]

    ix = SearchIndex.in_memory(settings=AnalyzerSettings(grams=1))
    ix.add_articles(_corpus(20, 17))
    with monkeypatch.context() as wrong:
        wrong.setattr(writer, "char_rows", one_off)  # what the segment writer counts
        ix.add_articles(_corpus(20, 18, prefix="q"))
    [_first, second] = [leaf.segment().segment_id() for leaf in _leaves(ix)]
    assert ix.check().problems == [f"segment {second}: the characters' statistics disagree with its paragraphs"]
    ix.optimize()  # counted again from the streams
    assert ix.check().problems == []


def test_stats_names_only_segments_with_paragraphs_as_lacking_suffix_arrays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ix"
    ix = SearchIndex.create(path)
    ix.add_articles(_corpus(10, 21), workers=1)
    with ix.writer() as writer:  # a segment of a file record only
        writer.finish_source("x.txt", "0" * 40)
    ix.add_article(Article(id="untitled", title="只有标题", paragraphs=[]))  # an article record only
    stats = ix.stats()
    assert (stats.segments, stats.suffix_segments, stats.segments_without_arrays) == (3, 1, 0)
    code, out, _err = cli_main(capsys, monkeypatch, "--index", str(path), "stats")
    assert code == 0 and "segments:       3 (1 with suffix arrays)\nsize on disk:" in out
    with monkeypatch.context() as older:  # as a searchkit before suffix arrays wrote it
        older.setattr(store_module, "make_codec", postings_codec)
        ix.add_articles(_corpus(10, 22, prefix="q"), workers=1)
    code, out, _err = cli_main(capsys, monkeypatch, "--index", str(path), "stats")
    assert "segments:       4 (1 with suffix arrays)\n                1 with paragraphs but none: their keywords are " \
           "answered from postings, more slowly (`reindex` adds them)\n" in out
