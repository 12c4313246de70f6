"""The random-query tests' oracle: what a scan of the texts finds."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from searchkit.analysis import fold

Key = tuple[str, int]  # (article id, paragraph)


class TextScan:
    """Paragraph texts by key, folded as searchkit folds them."""

    def __init__(self, texts: dict[Key, str]) -> None:
        self.texts = texts
        self.folded = {key: fold(text) for key, text in texts.items()}

    def pieces(self, lengths: Sequence[int]) -> list[str]:
        """Every substring of the texts of these lengths (keywords to ask for)."""
        return [text[i:i + n] for text in self.texts.values() for n in lengths for i in range(len(text) - n + 1)]

    def holding(self, piece: str) -> set[Key]:
        """The paragraphs whose text holds ``piece``."""
        wanted = fold(piece)
        return {key for key, text in self.folded.items() if wanted in text}

    def articles_holding(self, piece: str) -> set[str]:
        """The articles one of whose paragraphs holds ``piece`` (titles are empty here)."""
        return {article_id for article_id, _paragraph in self.holding(piece)}

    def boolean_query(self, chooser: random.Random, pieces: Sequence[str]) -> tuple[str, set[Key], list[str], set[str]]:
        """A random query (a keyword; AND; OR; an exclusion; a group), the paragraphs
        holding it, its keywords that are not excluded, and the articles holding
        it (each keyword in some paragraph, not necessarily the same)."""
        a, b, c = ((chooser.choice(pieces).strip("，。") or "山") for _ in range(3))
        shapes: list[Callable[[Callable[[str], set]], tuple[str, set, list[str]]]] = [
            lambda holding: (a, holding(a), [a]),
            lambda holding: (f"{a} {b}", holding(a) & holding(b), [a, b]),
            lambda holding: (f"{a} OR {b}", holding(a) | holding(b), [a, b]),
            lambda holding: (f"{a} -{b}", holding(a) - holding(b), [a]),
            lambda holding: (f"({a} OR {b}) {c}", (holding(a) | holding(b)) & holding(c), [a, b, c]),
        ]
        shape = shapes[chooser.randrange(len(shapes))]
        query, paragraphs, needles = shape(self.holding)
        return query, paragraphs, needles, shape(self.articles_holding)[1]
