"""A small tokenizer and vocabulary for IMDB reviews (torchtext is not used).

The recipe follows the Keras IMDB LSTM example that [MS]'s LSTM/IMDB task is built
like: the ``MAX_VOCAB`` most frequent training words, sequences of ``MAX_LEN`` ids,
padded and truncated at the front so that the last time step is the review's last kept
word (the classifier reads the LSTM's last hidden state).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

PAD, UNK = 0, 1
MAX_VOCAB = 20_000  # rows of the id space, PAD and UNK included
MAX_LEN = 200

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")  # letters and digits, any script


def tokenize(text: str) -> list[str]:
    """Lowercase words of a review: ``<br />`` becomes a space; a word is a run of letters
    and digits, optionally with one apostrophe suffix ("don't", "film's")."""
    return _WORD.findall(_BREAK.sub(" ", text).lower())


@dataclass(frozen=True)
class Vocabulary:
    """Words by id: ``words[0]`` is the padding, ``words[1]`` the unknown-word marker."""

    words: tuple[str, ...]
    ids: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    def id(self, word: str) -> int:
        return self.ids.get(word, UNK)


def build_vocab(documents: Iterable[Sequence[str]], max_size: int = MAX_VOCAB) -> Vocabulary:
    """The ``max_size - 2`` most frequent words of ``documents`` after PAD and UNK; ties are
    broken alphabetically so that the vocabulary does not depend on file order."""
    if max_size < 2:
        raise ValueError(f"max_size must be at least 2 (PAD and UNK), got {max_size}")
    counts = Counter(w for doc in documents for w in doc)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Vocabulary(("<pad>", "<unk>", *(w for w, _ in ranked[: max_size - 2])))


def encode(
    documents: Sequence[Sequence[str]], vocab: Vocabulary, max_len: int = MAX_LEN
) -> np.ndarray:
    """int64 ids, one row of ``max_len`` per document: the last ``max_len`` tokens, left-padded
    with PAD; out-of-vocabulary words become UNK."""
    out = np.full((len(documents), max_len), PAD, dtype=np.int64)
    for row, doc in enumerate(documents):
        ids = [vocab.id(w) for w in doc[-max_len:]] if max_len else []
        if ids:
            out[row, max_len - len(ids) :] = ids
    return out
