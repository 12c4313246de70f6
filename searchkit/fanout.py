"""A search over the shards of a sharded index, answering as one index of all their articles would.

Elasticsearch's ``dfs_query_then_fetch``, in rounds:

1. statistics: each shard counts its documents, field lengths and the
   frequencies of every term the query can read; the sums are global;
2. query: each shard searches with the global counts (so its scores are
   those one index would give) and returns its first hits, rendered, with
   keys that order them across shards; a shard that met a term the counts
   lacked says so, and the round is asked again with it counted;
3. when no shard has every keyword, the partial fallback is asked of all,
   as one index falls back only when it has no exact hit;
4. the hits are merged by key (partial matches: the best
   :data:`~searchkit.query.RERANK_POOL` re-ordered by coverage), the page cut,
   totals and facets added up.

Articles are partitioned whole, so what is decided per article (its best
paragraph, whether each keyword is in it) is decided within one shard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .engine import Statistics
from .errors import ShardUnavailableError
from .query import (
    RERANK_POOL,
    QueryPlan,
    SearchPart,
    SearchResult,
    add_facet_counts,
    facet_table,
)

if TYPE_CHECKING:  # (shards uses this module: no import back)
    from .shards import Shard

__all__ = ["call_method", "explain_shards", "search_shards"]

# Rounds of fetching terms the statistics lacked before giving up (one is the rule; pinyin may need two).
MAX_ROUNDS = 4


def call_method(index: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """On a shard (what :meth:`Shard.submit` runs): ``index.method(*args, **kwargs)``."""
    return getattr(index, method)(*args, **kwargs)


class _Fanout:
    """The shards still answering, and those lost on the way (with ``allow_partial``)."""

    def __init__(self, shards: Sequence[Shard], allow_partial: bool) -> None:
        self.shards = list(shards)
        self.allow_partial = allow_partial
        self.lost: list[str] = []

    def ask(self, method: str, *args: Any, per_shard: Callable[[Shard], tuple[Any, ...]] | None = None,
            **kwargs: Any) -> list[tuple[Shard, Any]]:
        """Every shard's answer to ``method(*args, **kwargs)`` (after ``per_shard(shard)``'s arguments), asked at once."""
        futures = [(shard, shard.submit(call_method, method, (*args, *(per_shard(shard) if per_shard else ())), kwargs))
                   for shard in self.shards]
        answers = []
        for shard, future in futures:
            try:
                answers.append((shard, future.result()))
            except ShardUnavailableError:
                if not self.allow_partial:
                    raise
                self.lost.append(shard.name)
                self.shards.remove(shard)
        return answers

    def statistics(self, query: str | None, keys: Sequence[tuple[str, bytes]] = (), synonyms: bool = True) -> Statistics:
        total = Statistics()
        for _shard, counted in self.ask("term_statistics", query, list(keys), synonyms=synonyms):
            total = total + counted
        return total

    def until_counted(self, statistics: Statistics, ask: Callable[[Statistics], list[tuple[Shard, Any]]],
                      missing_of: Callable[[Any], set[tuple[str, bytes]]], synonyms: bool
                      ) -> tuple[list[tuple[Shard, Any]], Statistics]:
        """``ask(statistics)``, again with the terms an answer found missing counted (by these shards), until none is."""
        for _round in range(MAX_ROUNDS):
            answers = ask(statistics)
            missing = set().union(*(missing_of(answer) for _shard, answer in answers))
            if not missing:
                return answers, statistics
            statistics = statistics.with_frequencies(self.statistics(None, sorted(missing), synonyms))
        raise ShardUnavailableError(f"the shards' term statistics kept changing during the search ({MAX_ROUNDS} rounds): "
                                    "try again once writes to the index have finished")


def search_shards(shards: Sequence[Shard], query: str, *, allow_partial: bool = False, **options: Any) -> SearchResult:
    """``SearchIndex.search(query, **options)`` over ``shards``: the hits, order, scores, totals, facets
    and snippets one index of all their articles gives (equal scores: the lower shard first).

    A shard that cannot be reached raises :class:`ShardUnavailableError`;
    with ``allow_partial``, the others answer and ``partial_shards`` names it.
    """
    fanout = _Fanout(shards, allow_partial)
    synonyms = options.get("synonyms", True)
    limit, offset = options.get("limit", 10), options.get("offset", 0)
    statistics = fanout.statistics(query, synonyms=synonyms)

    def parts(fallback: bool) -> list[SearchPart]:
        def ask(counted: Statistics) -> list[tuple[Shard, Any]]:
            return fanout.ask("search_part", query, counted, per_shard=lambda shard: (shard.number, fallback), **options)

        nonlocal statistics
        answers, statistics = fanout.until_counted(statistics, ask, lambda part: part.missing, synonyms)
        return [part for _shard, part in answers]

    answered = parts(False)
    if answered and not sum(part.total for part in answered) and answered[0].keywords:
        answered = parts(True)  # as one index: partial matches only where nothing has every keyword
    if not answered:
        if fanout.lost:
            raise ShardUnavailableError(f"no shard answered ({', '.join(fanout.lost)})")
        raise ShardUnavailableError("the index has no shards")

    entries = sorted(((key, i, k) for i, part in enumerate(answered) for k, key in enumerate(part.keys)),
                     key=lambda entry: entry[0])
    rescored = any(part.rescored is not None for part in answered)
    if rescored:
        entries = entries[:max(offset + limit, RERANK_POOL)]
        entries.sort(key=lambda entry: -answered[entry[1]].rescored[entry[2]])  # type: ignore[index]
    hits = [answered[i].hits[k] for _key, i, k in entries[offset:offset + limit]]
    # The notes are the query's (the same from every shard) and, of a shard with partial matches, that note.
    noted = next((part for part in answered if part.partial), answered[0])
    return SearchResult(query=query, total=sum(part.total for part in answered), hits=hits,
                        partial=noted.partial, level=options.get("level", "article"),
                        notes=noted.notes, offset=offset, facets=None if answered[0].facets is None else facet_table(add_facet_counts([part.facets or {} for part in answered])),
                        partial_shards=fanout.lost)


def explain_shards(shards: Sequence[Shard], query: str, *, synonyms: bool = True) -> QueryPlan:
    """``SearchIndex.explain(query)`` over ``shards`` (asked of the first): the ranking words' frequencies are the sums."""
    everyone = _Fanout(shards, allow_partial=False)
    first = _Fanout(shards[:1], allow_partial=False)

    def ask(counted: Statistics) -> list[tuple[Shard, Any]]:
        return first.ask("explain_part", query, counted, synonyms=synonyms)

    answers, _counted = everyone.until_counted(everyone.statistics(query, synonyms=synonyms), ask,
                                               lambda answer: answer[1], synonyms)
    return answers[0][1][0]  # type: ignore[no-any-return]
