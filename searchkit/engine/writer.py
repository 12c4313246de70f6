"""The segment writer, its writer processes and background merges.

:class:`SearchkitWriter` is Whoosh's segment writer with postings grouped per
field and term as documents arrive (the analyzer already counted them per
document) and written a block at a time. :class:`ChildSegment` writes a
segment in a forked process, committed with the parent's;
:class:`BackgroundMerge` runs merges in a forked process from commit to commit.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import pickle
import select
import shutil
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from whoosh import columns as wcolumns
from whoosh import query as wq
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    STORED_COLUMN,
    W3PerDocWriter,
    W3Segment,
    W3TermInfo,
    _lenfield,
    byte_to_length,
    length_to_byte,
)
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader
from whoosh.writing import SegmentWriter

from ..errors import SearchkitError
from .chars import CHAR_FIELD, _stream_of, char_rows, stored_stream
from .codec import (
    CopiedRun,
    FieldLengths,
    PostingRun,
    _FieldWriter,
    make_codec,
    private_temp_name,
    stored_length_bytes,
    var_bytes,
)
from .merge import (
    _MergedSegment,
    _tagged,
    _unmapped,
    merge_into,
    merge_tiers,
    tiers_to_merge,
)
from .suffixes import EXTENSION as SUFFIX_EXTENSION
from .suffixes import segment_suffixes, write_suffix_file
from .titles import TITLE_EXTENSION, TITLE_FIELD, TitleRuns, segment_titles, title_stream, write_title_file
from .terms import _inlined_row, _joined_inlined, field_terms

_second = itemgetter(1)


class _GroupedPostings:
    """The new segment's postings, grouped per field and term as documents come.

    Stands where Whoosh's writer keeps its PostingPool (``pool``).
    """

    def __init__(self) -> None:
        # field -> term -> [(docnum, weight, value)], docnums ascending
        self.fields: dict[str, dict[bytes, list[tuple[int, float, Any]]]] = {}
        self.merged: list[_MergedSegment] = []

    def add_items(self, fieldname: str, items: Sequence[tuple[bytes, int, float, bytes]], docnum: int) -> None:
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        get = terms.get
        for btext, _freq, weight, value in items:
            postings = get(btext)
            if postings is None:
                terms[btext] = [(docnum, weight, value)]
            else:
                postings.append((docnum, weight, value))

    def add_posting(self, fieldname: str, btext: bytes, docnum: int, weight: float, value: Any) -> None:
        self.add_items(fieldname, ((btext, 1, weight, value),), docnum)

    def write(self, schema: Any, fieldwriter: _FieldWriter, lengths: FieldLengths | None,
              streams: Sequence[str] | None = None) -> None:
        """Write every field's terms; with ``streams`` (by docnum), CHAR_FIELD's rows come from them."""
        names = set(self.fields)
        for segment in self.merged:
            names |= segment.field_names
        rows = None
        if streams is not None:
            rows = char_rows(streams)
            names.discard(CHAR_FIELD)
            if rows:
                names.add(CHAR_FIELD)
        for fieldname in sorted(name for name in names if name in schema):
            fieldobj = schema[fieldname]
            column = lengths.column(fieldname) if lengths is not None else None
            batch = self.fields.get(fieldname, {})
            fieldwriter.start_field(fieldname, fieldobj)
            if rows is not None and fieldname == CHAR_FIELD:
                for btext, row in rows:
                    fieldwriter.add_inlined(btext, row)
            elif not self.merged:
                # A new segment of its own (most commits): no streams to merge.
                self._write_batch(fieldwriter, batch, column, lengths.length_bytes(fieldname) if lengths is not None else None)
            else:
                self._write_merged(fieldname, fieldobj, fieldwriter, batch, column)
            fieldwriter.finish_field()
            batch.clear()

    @staticmethod
    def _write_batch(fieldwriter: _FieldWriter, batch: dict[bytes, list[tuple[int, float, Any]]],
                     column: Sequence[int | None] | None, length_bytes: Sequence[int] | None) -> None:
        add_term, add_inlined, limit = fieldwriter.add_term, fieldwriter.add_inlined, fieldwriter.inline_limit
        for btext in sorted(batch):
            postings = batch[btext]
            if len(postings) < limit:
                add_inlined(btext, _inlined_row(postings, length_bytes))
            else:
                ids, weights, values = zip(*postings)
                add_term(btext, ids, weights, values, column)

    def _write_merged(self, fieldname: str, fieldobj: Any, fieldwriter: _FieldWriter,
                      batch: dict[bytes, list[tuple[int, float, Any]]], column: Sequence[int | None] | None) -> None:
        # (term, source, term info bytes): source -1 is this batch, which
        # holds the lowest docnums; merged segments follow in the order they
        # were added.
        streams = [_tagged(((btext, b"") for btext in sorted(batch)), -1)]
        streams += [_tagged(segment.terms(fieldname), number) for number, segment in enumerate(self.merged)]
        merged, limit = self.merged, fieldwriter.inline_limit
        pending: list[tuple[int, bytes]] = []
        current: bytes | None = None
        for btext, source, terminfo in chain(heapq.merge(*streams), ((None, -1, b""),)):
            if btext == current:
                pending.append((source, terminfo))
                continue
            if current is not None:
                # Most terms are short lists inlined in each segment's table
                # (character bigrams, rare words): joined without term info
                # objects where no document of theirs was deleted.
                if all(part >= 0 and raw[0] and merged[part].docmap is None for part, raw in pending):
                    joined = _joined_inlined([(raw, merged[part].base) for part, raw in pending], limit)
                    if joined is not None:
                        fieldwriter.add_inlined(current, joined)
                        current, pending = btext, [(source, terminfo)]
                        continue
                fieldwriter.add_term_lists(current, self._runs(fieldname, fieldobj, current, batch, pending), column)
            current, pending = btext, [(source, terminfo)]

    def _runs(self, fieldname: str, fieldobj: Any, btext: bytes, batch: dict[bytes, Any],
              sources: list[tuple[int, bytes]]) -> Iterator[PostingRun | CopiedRun]:
        for source, terminfo in sources:
            if source < 0:
                yield tuple(zip(*batch[btext]))  # type: ignore[misc]
            else:
                yield from self.merged[source].runs(fieldname, btext, W3TermInfo.from_bytes(terminfo), fieldobj.format)

    def cleanup(self) -> None:
        for segment in self.merged:
            segment.close()
        self.merged = []
        self.fields = {}


# --------------------------------------------------------------------------
# The writer


class SearchkitWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's segment writer with postings grouped per term (see the module doc).

    Same files, same locking and commit protocol; documents, deletions and
    merges go through the usual Whoosh calls.
    """

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self._ix = ix
        self.pool.cleanup()
        self.pool = _GroupedPostings()
        self._children: list[ChildSegment] = []
        self._plans: dict[str, tuple[Any, Any, Any]] = {}  # see _plan
        # Set by a writer whose batches go to child processes: merges then
        # run in the background (see BackgroundMerge), one at a time.
        self.merge_in_child = False
        self.background: BackgroundMerge | None = None  # carried from commit to commit
        self.finish_background = False  # wait for it (the last commit)
        # The new segment's gram streams by docnum, for its suffix arrays and
        # its characters' statistics (None: an index of bigrams, with postings).
        self._streams: list[str] | None = [] if getattr(self.codec, "char_streams", False) else None
        # Its paragraphs' articles and titles, for its title table (see titles.py).
        self._titles: TitleRuns | None = TitleRuns() if self._streams is not None else None

    def reader(self, reuse: Any = None) -> Any:
        # The reader behind delete_by_term: thousands of scattered term
        # lookups per batch, which through mmap would stay resident.
        from whoosh.index import FileIndex

        self._check_state()
        return FileIndex._reader(_unmapped(self.storage), self.schema, self.segments, self.generation, reuse=reuse)

    def delete_where(self, **terms: str) -> None:
        """Delete the documents that hold every one of these exact field values."""
        self.delete_by_query(wq.And([wq.Term(fieldname, value) for fieldname, value in terms.items()]))

    def delete_present(self, fieldname: str, values: Iterable[str], known: dict[str, frozenset[int]]) -> None:
        """Delete the documents whose ``fieldname`` (an exact id field) holds one of ``values``, where any exist.

        Most ids of a batch are new. Whoosh's delete_by_term builds a query
        matcher per segment (0.1 to 0.6 s per batch of 5,000 on a few segments,
        while the writer processes wait to start); a term lookup per id and
        segment took 2.7 s of a 25.6 s import of 50k poems, growing with the
        segments. A segment never changes, so the hashes of its terms are
        read once (``known``: segment id -> hashes, kept by the store), and a
        value whose hash a segment holds is deleted by term (after a collision,
        that deletes nothing).
        """
        # (An index without segments has one EmptyReader, which holds nothing.)
        leaves = [leaf for leaf, _offset in self.searcher().reader().leaf_readers() if isinstance(leaf, SegmentReader)]
        present = {leaf.segment().segment_id(): leaf for leaf in leaves}
        for segment_id in set(known) - set(present):  # merged away
            del known[segment_id]
        for segment_id, leaf in present.items():
            if segment_id not in known:
                known[segment_id] = frozenset(hash(term) for term, _info in field_terms(leaf, fieldname))
        hashes = [known[segment_id] for segment_id in present]
        for value in values:
            key = hash(value.encode("utf-8"))
            if any(key in segment for segment in hashes):
                self.delete_by_term(fieldname, value)

    def add_child(self, child: ChildSegment) -> None:
        """Commit the segment that ``child`` writes with this one.

        The child works while this writer merges and flushes its own segment;
        the commit waits for it just before writing the table of contents.
        """
        self._children.append(child)

    def _commit_toc(self, segments: list[Any]) -> None:
        from whoosh.index import TOC

        try:
            added = [child.result() for child in self._children]
        except BaseException:
            # Whoosh's commit releases the lock only after the table of
            # contents is written; without it, nothing is committed.
            self._finish()
            raise
        finally:
            self._kill_children()
        segments = list(segments) + added
        TOC(self.schema, segments, self.generation).write(self.storage, self.indexname)
        self._remove_files_but(self.generation, segments)

    def commit(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().commit(*args, **kwargs)
        except BaseException:
            # Whoosh's commit has no clean-up of its own: stop the children
            # and let go of the lock (a merge started here is the caller's).
            self._kill_children()
            if not self.is_closed:
                try:
                    self._close_segment()
                    with contextlib.suppress(Exception):  # the failure raised is the one to report
                        self._remove_unlisted()
                finally:
                    self._finish()
            raise

    def _remove_unlisted(self) -> None:
        """After a failed commit (still holding the lock): delete the files
        of segments that no table of contents lists, as the next commit
        would, sparing those other processes' children are writing."""
        from whoosh.index import TOC

        generation = TOC._latest_generation(self.storage, self.indexname)
        if generation < 0:
            return
        # A table of contents written before the failure lists this writer's segment: it stays.
        self._remove_files_but(generation, TOC.read(self.storage, self.indexname, generation, schema=self.schema).segments)

    def _remove_files_but(self, generation: int, listed: list[Any]) -> None:
        """Delete older tables of contents and the files of segments not ``listed``,
        but those a child process (of this or another searchkit process) is
        writing, or has written and its parent not yet taken in: each has its
        private temporary folder."""
        from whoosh.index import clean_files

        clean_files(self.storage, self.indexname, generation, list(listed) + _segments_in_progress(self.storage))

    def cancel(self) -> None:
        self._kill_children()
        super().cancel()

    def _kill_children(self) -> None:
        for child in self._children:
            child.kill()
        self._children = []

    def _merge_segments(self, mergetype: Any, optimize: Any, merge: Any) -> Any:
        # Whoosh's default policy (MERGE_SMALL) becomes merge_tiers; an
        # explicit policy, optimize=True or merge=False still rule.
        if mergetype is None and self.mergetype is None:
            optimize = self.optimize if optimize is None else optimize
            merge = self.merge if merge is None else merge
            if merge and not optimize:
                if self.merge_in_child and fork_available():
                    return self._background_merge()
                mergetype = merge_tiers
        return super()._merge_segments(mergetype, optimize, merge)

    def _background_merge(self) -> list[Any]:
        """Take in a finished background merge; start the next one. Returns the segments to list."""
        segments = list(self.segments)
        running = self.background
        if running is not None and (self.finish_background or running.ready()):
            merged = running.finish(segments)
            if merged is not None:
                segments = [s for s in segments if s.segment_id() not in running.input_ids]
                if merged.doc_count_all():  # else every input document was deleted
                    segments.append(merged)
            self.background = running = None
        if running is None and not self.finish_background:
            to_merge, _kept = tiers_to_merge(segments)
            if to_merge:
                self.background = BackgroundMerge(self._ix, to_merge, char_streams=self._streams is not None)
        return segments

    def add_document(self, **fields: Any) -> None:
        # Whoosh's own, with what each field needs looked up once per writer
        # and the per-document writer's bookkeeping done in place.
        self._check_state()
        perdocwriter = self.perdocwriter
        docnum = self.docnum
        self._check_fields(self.schema, fields)
        perdocwriter.start_doc(docnum)
        stored, totals = perdocwriter._storedfields, perdocwriter._fieldlengths
        plans, add_items, streams = self._plans, self.pool.add_items, self._streams
        stream = ""
        try:
            for fieldname in sorted(fields):
                value = fields[fieldname]
                if value is None:
                    continue
                field, lengths, column = plans.get(fieldname) or self._plan(fieldname)
                if field.indexed:
                    if streams is not None and fieldname == CHAR_FIELD:
                        stream = _stream_of(value)
                        length = len(stream)  # one posting per character
                    else:
                        items = field.index(value)
                        if not isinstance(items, list):
                            items = list(items)
                        add_items(fieldname, items, docnum)
                        length = sum(map(_second, items)) if lengths is not None else 0
                    if lengths is not None:
                        if length:
                            lengths.add(docnum, length_to_byte(length))
                            totals[fieldname] += length
                if field.stored:
                    stored[fieldname] = value
                if column is not None:
                    column.add(docnum, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        if streams is not None:
            streams.append(stream)  # empty: articles and file records have no text
            title = fields.get(TITLE_FIELD)
            if title is not None and self._titles is not None:
                self._titles.add(docnum - self.docbase, fields.get("article_id") or "",
                                 getattr(title, "stream", None) or title_stream(fields.get("title") or ""))
        self._added = True
        self.docnum += 1

    def _add_reader_streams(self, reader: Any, live: Sequence[int]) -> None:
        """The streams and title runs of a merged segment's live documents: from its
        suffix arrays and title table, else (none, or damaged) from its stored paragraphs."""
        if self._streams is None or self._titles is None:
            return
        base = self.docnum - self.docbase
        streams = titles = None
        if isinstance(reader, SegmentReader):
            with contextlib.suppress(Exception):  # a damaged file: the stored documents say the same
                table = segment_suffixes(reader)
                streams = None if table is None else list(table.streams())
            with contextlib.suppress(Exception):
                titles = segment_titles(reader)
        if titles is not None:
            self._titles.add_table(titles, live, base)
        if streams is not None:
            self._streams.extend(streams[docnum] for docnum in live)
        if streams is None or titles is None:  # one pass over the stored documents, not held in memory
            stored = ((number, reader.stored_fields(docnum)) for number, docnum in enumerate(live, base))
            if titles is None:
                stored = self._titles.add_stored(stored)
            if streams is None:
                self._streams.extend(stored_stream(fields) for _number, fields in stored)
            else:
                deque(stored, maxlen=0)  # read for their titles only

    def _plan(self, fieldname: str) -> tuple[Any, Any, Any]:
        """(field, its length column's writer, its own column's writer)."""
        field = self.schema[fieldname]
        lengths = self._column_writer(_lenfield(fieldname), LENGTHS_COLUMN) if field.indexed and field.scorable else None
        column = self._column_writer(fieldname, field.column_type) if field.column_type is not None else None
        plan = self._plans[fieldname] = (field, lengths, column)
        return plan

    def write_per_doc(self, fieldnames: set[str], reader: Any) -> dict[int, int] | None:
        # Whoosh's own copy unpickles and decompresses every document's stored
        # fields to compress and pickle them again, and asks for every field
        # length of every document (for a field without lengths it looks for
        # the column file again each time). This copies the stored bytes as
        # they are and each column in one pass.
        stored = reader._perdoc._cached_reader("_stored", STORED_COLUMN) if isinstance(reader, SegmentReader) else None
        raw_stored = getattr(stored, "_child", None)
        live = list(reader.all_doc_ids())  # in order, deleted ones left out
        self._add_reader_streams(reader, live)
        if (
            type(raw_stored) is not wcolumns.CompressedBytesColumn.Reader
            or not isinstance(self.perdocwriter, W3PerDocWriter)
            or any(self.schema[name].vector for name in fieldnames if name in self.schema)
        ):
            return super().write_per_doc(fieldnames, reader)  # type: ignore[no-any-return]
        perdoc, perdocwriter, schema = reader._perdoc, self.perdocwriter, self.schema
        start = self.docnum
        new_numbers = range(start, start + len(live))
        docmap = dict(zip(live, new_numbers)) if reader.has_deletions() else None

        # Stored fields: the compressed bytes of each document as they are.
        stored_writer = perdocwriter._colwriters["_stored"]._child
        for new, data in zip(new_numbers, var_bytes(raw_stored, live)):
            if data:
                wcolumns.VarBytesColumn.Writer.add(stored_writer, new, data)
        # Field lengths: their bytes, and the totals Whoosh keeps.
        for fieldname in sorted(name for name in schema.names() if schema[name].scorable):
            column = perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            if column is None:
                continue
            lengths = stored_length_bytes(column)
            writer = self._column_writer(_lenfield(fieldname), LENGTHS_COLUMN)
            total = 0
            for old, new in zip(live, new_numbers):
                byte = lengths[old]
                if byte:
                    writer.add(new, byte)
                    total += byte_to_length(byte)
            # Whoosh adds up the rounded lengths the bytes hold. Without
            # deletions the input's own total (of its documents' true lengths)
            # stays exact: merged, the documents score as they did, as in an
            # index built at once.
            perdocwriter._fieldlengths[fieldname] += reader.field_length(fieldname) if docmap is None else total
        # Other columns (sortable fields).
        for fieldname in sorted(fieldnames):
            column_type = schema[fieldname].column_type if fieldname in schema else None
            if column_type and reader.has_column(fieldname):
                column = reader.column_reader(fieldname, column_type)
                if isinstance(column, wcolumns.TranslatingColumnReader):
                    column = column.raw_column()
                writer = self._column_writer(fieldname, column_type)
                if type(column) is wcolumns.VarBytesColumn.Reader:  # (the paragraphs' words) read a run at a time
                    for new, data in zip(new_numbers, var_bytes(column, live)):
                        if data:
                            writer.add(new, data)
                else:
                    for old, new in zip(live, new_numbers):
                        writer.add(new, column[old])
        # What start_doc and finish_doc would have counted.
        perdocwriter._doccount += len(live)
        self.docnum += len(live)
        return docmap

    def _column_writer(self, name: str, column_type: Any) -> Any:
        perdocwriter = self.perdocwriter
        if not perdocwriter._has_column(name):
            perdocwriter._create_column(name, column_type)
        return perdocwriter._get_column(name)

    def add_postings_to_pool(self, reader: Any, startdoc: int, docmap: dict[int, int] | None) -> None:
        # Whoosh's merge policies close the reader right after add_reader, so
        # the stream reads the segment through a reader of its own.
        if isinstance(reader, SegmentReader):
            own = SegmentReader(_unmapped(self.storage), self.schema, reader.segment())
            self.pool.merged.append(_MergedSegment(own, startdoc, docmap))
            return
        for fieldname, btext, docnum, weight, value in self._process_posts(reader.iter_postings(), startdoc, docmap):
            self.pool.add_posting(fieldname, btext, docnum, weight, value)

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        per_doc = self.per_document_reader() if self.codec.length_stats else None
        streams = self._streams
        if streams is not None and len(streams) != self.docnum - self.docbase:
            raise SearchkitError(f"a segment of {self.docnum - self.docbase} documents got {len(streams)} texts")
        try:
            self.pool.write(self.schema, self.fieldwriter, FieldLengths(per_doc) if per_doc else None, streams)
        finally:
            if per_doc is not None:
                per_doc.close()
        self.fieldwriter.close()
        # Written before the segment is assembled, so its compound file holds it.
        if streams is not None and any(streams):
            with self.newsegment.create_file(self.storage, SUFFIX_EXTENSION) as file:
                write_suffix_file(file, streams)
        if self._titles:
            with self.newsegment.create_file(self.storage, TITLE_EXTENSION) as file:
                write_title_file(file, self.docnum - self.docbase, self._titles)


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


class ChildSegment:
    """A segment written by a forked copy of this process, in parallel.

    The child has the documents already (fork copies memory), so nothing but
    the finished segment's descriptor crosses the pipe. It writes without the
    index lock, which this process holds, and never commits: the parent's
    writer lists the segment in its own commit (``add_child``), so a failure
    anywhere leaves only unlisted files, which the next commit deletes.
    """

    def __init__(self, ix: Any, payload: Any, write: Callable[[Any, Any], None], *, char_streams: bool) -> None:
        segid = W3Segment._random_id()
        folder = getattr(ix.storage, "folder", None)
        # Where the child keeps its temporary files (removed here once it is reaped).
        temp_name = private_temp_name(f"{ix.indexname}_{segid}", os.getpid())
        self._temp = os.path.join(folder, temp_name) if folder else None
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
            status = 0
            try:
                os.close(read_fd)
                codec = make_codec(segid, char_streams=char_streams)
                codec.private_temp = temp_name
                writer = SearchkitWriter(ix, _lk=False, codec=codec)
                writer._tempstorage = writer.storage.temp_storage(temp_name)
                # The folder stays until the parent has reaped this process:
                # while it exists, every searchkit commit spares the segment's
                # files (see _commit_toc), also another process's commit.
                write(writer, payload)
                result: tuple[str, Any] = ("ok", writer._finalize_segment())
            except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                result, status = ("error", f"{type(exc).__name__}: {exc}"), 1
            try:
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(pickle.dumps(result))
            finally:
                os._exit(status)
        os.close(write_fd)
        self._pid: int | None = pid
        self._fd: int | None = read_fd
        self._folder = folder
        self._file_prefix = f"{ix.indexname}_{segid}."

    def ready(self) -> bool:
        """Whether the child has finished (so ``result`` will not wait)."""
        return self._fd is None or bool(select.select([self._fd], [], [], 0)[0])

    def result(self) -> Any:
        """Wait for the child; its segment, or SearchkitError if it failed."""
        fd, self._fd = self._fd, None
        if fd is None:
            raise SearchkitError("a writer process's result was already taken")
        with os.fdopen(fd, "rb") as pipe:
            data = pipe.read()
        self._reap()
        if not data:
            raise SearchkitError("a writer process died before finishing its segment; nothing of this batch was committed")
        kind, value = pickle.loads(data)
        if kind != "ok":
            raise SearchkitError(f"a writer process failed ({value}); nothing of this batch was committed")
        return value

    def kill(self) -> None:
        """Stop the child; a segment it wrote but no one took is deleted (no commit can list it)."""
        untaken = self._fd is not None
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if untaken and self._folder is not None:
            for filename in os.listdir(self._folder):
                if filename.startswith(self._file_prefix):
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(self._folder, filename))

    def _reap(self) -> None:
        if self._pid is not None:
            os.waitpid(self._pid, 0)
            self._pid = None
            if self._temp is not None:
                shutil.rmtree(self._temp, ignore_errors=True)


def _segments_in_progress(storage: Any) -> list[_SegmentName]:
    """Segments a live process's child is writing (or wrote, not yet taken in); stale folders go."""
    names = []
    for filename in storage.list() if isinstance(storage, FileStorage) else ():
        if filename.startswith(".") and filename.endswith(".tmp"):
            segment_id, _dot, owner = filename[1:-4].rpartition(".")
            if not owner.isdigit():  # a folder of a searchkit before owners were named: keep sparing it
                names.append(_SegmentName(filename[1:-4]))
            elif _alive(int(owner)):
                names.append(_SegmentName(segment_id))
            else:
                shutil.rmtree(os.path.join(storage.folder, filename), ignore_errors=True)
    return names


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class _SegmentName:
    def __init__(self, segment_id: str) -> None:
        self._segment_id = segment_id

    def segment_id(self) -> str:
        return self._segment_id


class BackgroundMerge:
    """Segments merged by a forked process while later batches are written.

    The merged segment replaces its inputs at the first commit after it is
    done, or at the last one (``finish_background``). Documents deleted from
    the inputs meanwhile are deleted from it too: its documents are the
    inputs' live ones at the start, in order. If an input is gone by then
    (another writer merged it) or the process failed, the inputs stay as
    they are and the merge is dropped: nothing is lost.
    """

    def __init__(self, ix: Any, segments: list[Any], *, char_streams: bool) -> None:
        self.inputs = [
            (segment.segment_id(), [d for d in range(segment.doc_count_all()) if not segment.is_deleted(d)])
            for segment in segments
        ]
        self.input_ids = {segment_id for segment_id, _live in self.inputs}
        self._child = ChildSegment(ix, segments, merge_into, char_streams=char_streams)

    def ready(self) -> bool:
        return self._child.ready()

    def finish(self, segments: list[Any]) -> Any:
        """The merged segment, with the inputs' later deletions; None if dropped."""
        try:
            merged = self._child.result()
        except Exception:  # noqa: BLE001 - failed, died, or an unreadable result: drop it
            return None
        by_id = {segment.segment_id(): segment for segment in segments}
        if not self.input_ids <= by_id.keys() or merged.doc_count_all() != sum(len(live) for _id, live in self.inputs):
            return None
        base = 0
        for segment_id, live in self.inputs:
            segment = by_id[segment_id]
            if segment.deleted_count():
                for offset, docnum in enumerate(live):
                    if segment.is_deleted(docnum):
                        merged.delete_document(base + offset)
            base += len(live)
        return merged

    def kill(self) -> None:
        self._child.kill()
