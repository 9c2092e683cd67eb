"""Genres: the thesis's question "which genre is this video?" answered from class scores.

A class's genre is its ``Vertical1`` in vocabulary.csv (24 categories + "(Unknown)" in the
2018 vocabulary; an empty ``Vertical1`` also counts as "(Unknown)").

Rules (the same for every model and both frameworks):

* **genre score** of a video = the maximum of its class scores over that genre's classes
  (a genre is as likely as its most likely entity; a sum would favour genres with many
  classes, such as Games with 734);
* **true genres** of a video = the set of genres of its labels; **genre top-1 accuracy** =
  the fraction of videos, among those with at least one label, whose highest-scoring genre
  (lowest genre index on ties) is one of their true genres;
* **confusion matrix**: rows = a video's *majority* true genre (the genre holding most of its
  labels, lowest genre index on ties), columns = its highest-scoring genre; videos without
  labels are left out.

Genres are ordered alphabetically, with "(Unknown)" last.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yt8m_lib.errors import DataError
from yt8m_lib.evaluation.arrays import as_arrays as _as_arrays
from yt8m_lib.evaluation.arrays import chunks as _chunks

UNKNOWN_GENRE = "(Unknown)"
VOCABULARY_COLUMNS = ("Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl",
                      "Vertical1", "Vertical2", "Vertical3", "WikiDescription")
SYNTHETIC_GENRES = 8  # genres of the fallback vocabulary (a handful, so that errors are visible)


def _genre_order(name: str):
    return (name == UNKNOWN_GENRE, name)


@dataclass(frozen=True)
class Vocabulary:
    names: tuple[str, ...]  # class names, by class index
    genre_names: tuple[str, ...]  # alphabetical, "(Unknown)" last
    class_genre: np.ndarray  # int64 (C,): index into genre_names of each class

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def num_genres(self) -> int:
        return len(self.genre_names)

    @classmethod
    def from_genres(cls, names, genres) -> "Vocabulary":
        """From class names and each class's genre name (in class index order)."""
        genres = [g.strip() or UNKNOWN_GENRE for g in genres]
        if len(genres) != len(names) or not names:
            raise ValueError("need one genre per class and at least one class")
        genre_names = tuple(sorted(set(genres), key=_genre_order))
        position = {g: i for i, g in enumerate(genre_names)}
        class_genre = np.array([position[g] for g in genres], dtype=np.int64)
        return cls(tuple(names), genre_names, class_genre)

    @classmethod
    def load(cls, path) -> "Vocabulary":
        """Read vocabulary.csv (official columns; rows in any ``Index`` order, 0..C-1 once)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "vocabulary file not found")
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"Index", "Name", "Vertical1"} - set(reader.fieldnames or ())
            if missing:
                raise DataError(path, f"not a YouTube-8M vocabulary: missing column(s) "
                                      f"{', '.join(sorted(missing))}")
            rows = {}
            for line, row in enumerate(reader, start=2):
                try:
                    index = int(row["Index"])
                except (TypeError, ValueError):
                    raise DataError(path, f"line {line}: Index {row['Index']!r} is not an integer")
                if index in rows:
                    raise DataError(path, f"line {line}: Index {index} appears twice")
                rows[index] = (row["Name"] or "", row["Vertical1"] or "")
        if not rows:
            raise DataError(path, "vocabulary has no classes")
        if sorted(rows) != list(range(len(rows))):
            raise DataError(path, f"Index values must be 0..{len(rows) - 1}, each once; got "
                                  f"min {min(rows)}, max {max(rows)} over {len(rows)} rows")
        names = [rows[i][0] for i in range(len(rows))]
        return cls.from_genres(names, [rows[i][1] for i in range(len(rows))])

    @classmethod
    def synthetic(cls, num_classes: int, num_genres: int = SYNTHETIC_GENRES) -> "Vocabulary":
        """Fallback when there is no vocabulary.csv: classes split into contiguous, nearly
        equal blocks, one per genre ("Genre 00", "Genre 01", ...)."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        num_genres = max(1, min(num_genres, num_classes))
        genres = [f"Genre {c * num_genres // num_classes:02d}" for c in range(num_classes)]
        return cls.from_genres([f"Class {c}" for c in range(num_classes)], genres)

    def genre_of(self, class_index: int) -> str:
        return self.genre_names[self.class_genre[class_index]]

    def classes_by_genre(self) -> tuple[np.ndarray, np.ndarray]:
        """(column order grouping classes by genre, start of each genre in that order)."""
        order = np.argsort(self.class_genre, kind="stable")
        starts = np.searchsorted(self.class_genre[order], np.arange(self.num_genres))
        return order, starts


def _genre_scores(p: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    order, starts = vocab.classes_by_genre()
    return np.maximum.reduceat(p[:, order], starts, axis=1)


def _genre_label_counts(y: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    order, starts = vocab.classes_by_genre()
    return np.add.reduceat(y[:, order].astype(np.int32), starts, axis=1)


def genre_scores(predictions, vocab: Vocabulary) -> np.ndarray:
    """(N, G): each genre's score = max of the class scores of its classes."""
    p = np.asarray(predictions)
    if p.ndim != 2 or p.shape[1] != vocab.num_classes:
        raise ValueError(f"predictions must be (N, {vocab.num_classes}), got {p.shape}")
    return _genre_scores(p, vocab)


def true_genres(labels, vocab: Vocabulary) -> np.ndarray:
    """(N, G) bool: the genres of each video's labels."""
    y = np.asarray(labels)
    if y.ndim != 2 or y.shape[1] != vocab.num_classes:
        raise ValueError(f"labels must be (N, {vocab.num_classes}), got {y.shape}")
    return _genre_label_counts(y == 1, vocab) > 0


def majority_genre(labels, vocab: Vocabulary) -> np.ndarray:
    """(N,) int: genre holding most of a video's labels (lowest index on ties); -1: no labels."""
    y = np.asarray(labels)
    counts = _genre_label_counts(y == 1, vocab)
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)


class GenreCounts:
    """Accumulates genre hits and the confusion matrix batch by batch (used by
    ``metrics.StreamingEvaluator``); inputs are validated arrays, labels bool."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab
        self.confusion = np.zeros((vocab.num_genres, vocab.num_genres), dtype=np.int64)
        self.hits = 0
        self.num_labelled = 0

    def add(self, p: np.ndarray, y: np.ndarray) -> None:
        predicted = _genre_scores(p, self.vocab).argmax(axis=1)
        counts = _genre_label_counts(y, self.vocab)
        labelled = counts.sum(axis=1) > 0
        rows = np.flatnonzero(labelled)
        self.hits += int((counts[rows, predicted[rows]] > 0).sum())
        self.num_labelled += rows.size
        np.add.at(self.confusion, (counts[rows].argmax(axis=1), predicted[rows]), 1)

    def accuracy(self) -> float:
        """Genre top-1 accuracy; NaN when no video had a label."""
        return self.hits / self.num_labelled if self.num_labelled else float("nan")


def _counted(predictions, labels, vocab: Vocabulary) -> GenreCounts:
    p, y = _as_arrays(predictions, labels)
    if p.shape[1] != vocab.num_classes:
        raise ValueError(f"{p.shape[1]} classes, but the vocabulary has {vocab.num_classes}")
    if p.shape[0] == 0:
        raise ValueError("no videos (empty set)")
    counts = GenreCounts(vocab)
    for _, pc, yc in _chunks(p, y):  # validated row chunks: bounded temporaries
        counts.add(pc, yc)
    return counts


def genre_accuracy(predictions, labels, vocab: Vocabulary) -> float:
    """Fraction of labelled videos whose top genre is among their true genres (NaN if none)."""
    return _counted(predictions, labels, vocab).accuracy()


def genre_confusion(predictions, labels, vocab: Vocabulary):
    """pandas DataFrame of counts: rows majority true genre, columns predicted top genre."""
    import pandas as pd

    matrix = _counted(predictions, labels, vocab).confusion
    names = list(vocab.genre_names)
    return pd.DataFrame(matrix, index=pd.Index(names, name="true genre"),
                        columns=pd.Index(names, name="predicted genre"))
