"""searchkit's storage engine: everything that knows Whoosh's internals or searchkit's files.

The rest of searchkit (the API in :mod:`searchkit.index`, query planning,
highlighting, analysis, readers, maintenance, the CLI) uses the engine
through the names this package exports, never through its modules or
Whoosh's private names (``tests/test_layers.py`` checks both).

Modules, lowest first:

* ``layout``: an index directory, its ``searchkit.json`` and schema versions,
  and the checks made before Whoosh opens it;
* ``terms``: the term table (Whoosh's ordered hash file), written by
  searchkit, probed and streamed without Whoosh's reader;
* ``suffixes``: a segment's suffix arrays of its paragraphs' characters;
* ``titles``: a segment's suffix arrays of its articles' titles, once per article;
* ``words``: the column of each paragraph's words, for ranking few hits;
* ``schema``: the Whoosh schema and its field types for prepared postings;
* ``codec``: the codec (Whoosh's W3 format), its postings, field and per-document writers;
* ``chars``: the ``grams`` statistics of an index of characters;
* ``merge``: streaming merges and the merge policy;
* ``writer``: the segment writer, writer processes, background merges;
* ``matchers``: exact phrases, pinyin phrases, ranking words and ranked filters, a block at a time;
* ``queries``: combining queries, collecting hits with exact totals;
* ``store``: one index's Whoosh files, writers under the lock, searchers;
* ``statistics``: term statistics summed over shards, and searchers that score with them;
* ``verify``: reading every part of every segment, for ``check``.

Whoosh internals relied on (whoosh-reloaded 2.7.5, pinned for this reason;
:func:`check_whoosh_version` refuses another version):

* ``whoosh.codec.whoosh3``: ``W3Codec`` (subclassed: ``SearchkitCodec``),
  ``W3FieldWriter`` (``_fieldid``, ``_fieldname``, ``_fieldobj``, ``_btext``,
  ``_infield``, ``_postwriter``, ``_tindex``, ``_postfile``, ``_fieldmap``,
  ``_terminfo``, ``_inlinelimit``), ``W3PostingsWriter`` (``_blocklimit``,
  ``_compression``, ``_blockcount``, ``_format``, ``_ids``, ``_weights``,
  ``_values``, ``_minlength``, ``_maxlength``, ``_maxweight``,
  ``_write_block``, ``_new_block``, ``_mini_ids``, ``_mini_weights``,
  ``_mini_values``), ``W3PerDocWriter`` (``_storedfields``, ``_doccount``,
  ``_colwriters``, ``_create_column``, ``_get_column``, ``_has_column``,
  ``_fieldlengths``, ``_cached_reader``), ``W3LeafMatcher`` (``_data``,
  ``_i``, ``_blocklength``, ``_next_block``, ``_read_ids``,
  ``_read_weights``, ``_read_values``, ``_postfile``, ``_scorer``),
  ``W3TermInfo`` (``_struct``, ``_weight``, ``_df``, ``_minlength``,
  ``_maxlength``, ``_maxweight``, ``_minid``, ``_maxid``, ``_inlined``),
  ``W3TermsReader`` (``_tindex``, ``_postfile``, ``_fieldmap``,
  ``_keycoder``, ``_codec``), ``W3PerDocReader``, ``W3Segment``,
  ``_lenfield``, ``LENGTHS_COLUMN``, ``STORED_COLUMN``,
  ``WHOOSH3_HEADER_MAGIC``;
* ``whoosh.filedb.filetables``: ``OrderedHashWriter`` (subclassed:
  ``_TermTable``; ``_hash``, ``_buffer``, ``_write_hashes``,
  ``_write_extras``, ``_position``), ``HashWriter``, ``crc_hash``;
* ``whoosh.columns``: ``VarBytesColumn.Reader`` (``_lengths``,
  ``_offsets``, ``_dbfile``, ``_basepos``), ``VarBytesColumn.Writer``
  (subclassed to fix its ``finish``: ``fill``, ``_count``), ``CompressedBytesColumn``
  (subclassed), column readers' ``_count``, ``_default``, ``_typecode``,
  ``_doccount``;
* ``whoosh.writing.SegmentWriter`` (subclassed: ``SearchkitWriter``;
  ``_check_state``, ``_check_fields``, ``_commit_toc``, ``_merge_segments``,
  ``_finalize_segment``, ``_flush_segment``, ``_close_segment``,
  ``_process_posts``, ``_finish``, ``_added``, ``_perdoc``, ``_temp``,
  ``_tempstorage``, ``_random_id``, ``_latest_generation``), and
  ``whoosh.index``: ``TOC``, ``FileIndex._reader``, ``FileIndex._segments``,
  ``clean_files``; ``whoosh.filedb.filestore``: ``FileStorage``,
  ``RamStorage`` (subclassed: ``temp_storage``);
* ``whoosh.reading.SegmentReader`` (``_terms``, ``_perdoc``, ``_segment``,
  ``_storage``, ``_codec``), ``EmptyReader``;
* ``whoosh.matching``: ``ListMatcher`` (subclassed; ``_ids``, ``_weights``,
  ``_values``, ``_i``), ``AndNotMatcher`` (subclassed: ``_find_first``,
  ``_find_next``), ``IntersectionMatcher``, ``WrappingMatcher``, ``ReadTooFar``;
  ``whoosh.sorting``: ``FieldFacet`` and ``ColumnCategorizer`` (subclassed:
  ``_creader``, ``_fieldname``), for the article-level collapse; ``whoosh.query``: ``Query``, ``Or``
  (``DEFAULT_MATCHER``), ``AndNot``, ``And``, ``Not``, ``Term``,
  ``ConstantScoreQuery`` (subclassed); ``whoosh.scoring.BM25F`` (``_field_B``);
  ``Searcher.search(limit=None)``'s ``top_n`` (every match, for date sorting);
* ``whoosh.searching.Searcher`` (subclassed: ``_GlobalSearcher``, for a shard
  scored with every shard's counts; ``_doccount``, ``_ix``, ``ixreader``, and
  the ``doc_frequency`` it copies from its reader onto itself);
* ``whoosh.util``: ``numlists.GrowableArray``, ``numeric.byte_to_length``,
  ``filelock.try_for``; ``whoosh.system.pack_ushort``; ``whoosh.fields``
  field types (subclassed) and ``whoosh.formats``.

Indexes' tables of contents pickle classes by module path: the engine's
pickled classes keep shims at their old paths (``searchkit.segments``,
``searchkit.index``), tested on fixture indexes built before the move.
"""

from __future__ import annotations

from .layout import (
    META_FILE,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    check_reindexable,
    damaged_message,
    existing_directory,
    meta_extras,
    meta_problem,
    no_toc_message,
    recorded_settings,
    settings_mismatch,
    writing_to,
)
from .matchers import CharPhrase, PinyinPhrase, RankedFilter, WordUnion, cached_doc_frequency, searcher_cache, term_bytes
from .queries import (
    Query,
    Ranked,
    all_matches,
    all_of,
    any_of,
    any_term,
    article_keys,
    boosted,
    collect,
    column_counts,
    column_values,
    documents,
    every,
    excluding,
    matching,
    negated,
    restricted,
    value_range,
)
from .schema import FILTER_FIELDS, ExactID, Prepared, PreparedField
from .statistics import Statistics, local_statistics, statistics_searcher
from .store import Store, write_lock
from .verify import SegmentScan, scan_segments
from .version import WHOOSH_VERSION, check_whoosh_version
from .words import RANKING_WORDS_FIELD, RankingWordsField, encode_ranking_words, recorded_words
from .writer import BackgroundMerge, SearchkitWriter, fork_available

__all__ = [
    "BackgroundMerge", "CharPhrase", "PinyinPhrase", "ExactID", "META_FILE", "Prepared", "PreparedField", "Query",
    "RANKING_WORDS_FIELD", "READABLE_SCHEMA_VERSIONS", "RankedFilter", "Ranked", "RankingWordsField",
    "SCHEMA_VERSION", "SearchkitWriter", "SegmentScan", "Store", "WHOOSH_VERSION", "WordUnion", "all_of", "any_of",
    "boosted", "cached_doc_frequency", "check_reindexable", "check_whoosh_version", "collect", "damaged_message",
    "all_matches", "any_term", "article_keys", "column_counts", "column_values", "documents", "encode_ranking_words", "every", "excluding", "existing_directory", "fork_available", "matching", "meta_extras", "meta_problem", "negated", "no_toc_message", "restricted", "value_range",
    "FILTER_FIELDS", "Statistics", "local_statistics", "statistics_searcher",
    "recorded_settings", "recorded_words", "scan_segments", "searcher_cache", "settings_mismatch", "term_bytes", "write_lock", "writing_to",
]
