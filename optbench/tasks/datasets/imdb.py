"""IMDB movie reviews (Maas et al. 2011) from the ``aclImdb`` folders [MS].

``aclImdb/{train,test}/{pos,neg}/*.txt``, 12,500 reviews in each of the four folders;
label 1 = positive, 0 = negative. The vocabulary is built from the training reviews only
(``optbench.tasks.text``); the test reviews are the validation split. ``x`` holds int64
word ids, N x ``MAX_LEN``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from optbench.errors import DataMissing
from optbench.tasks.data import Split
from optbench.tasks.datasets.files import IMDB
from optbench.tasks.text import MAX_LEN, MAX_VOCAB, build_vocab, encode, tokenize


def read_reviews(folder: Path) -> tuple[list[list[str]], np.ndarray]:
    """Tokens and labels of ``folder/neg/*.txt`` then ``folder/pos/*.txt``, sorted by name."""
    docs: list[list[str]] = []
    labels: list[int] = []
    for label, sub in ((0, "neg"), (1, "pos")):
        files = sorted((folder / sub).glob("*.txt"))
        if not files:
            raise DataMissing(f"{folder / sub}: no reviews (*.txt); {IMDB.hint}")
        for path in files:
            try:
                docs.append(tokenize(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as e:
                raise DataMissing(f"{path}: unreadable review ({e})") from None
            labels.append(label)
    return docs, np.asarray(labels, dtype=np.int64)


def load_imdb(
    data_dir: str | Path | None = None, max_vocab: int = MAX_VOCAB, max_len: int = MAX_LEN
) -> Split:
    """IMDB: 25,000 training and 25,000 test reviews as int64 ids N x ``max_len``, 2 classes."""
    folder = IMDB.locate(data_dir)
    if folder is None:
        raise DataMissing(IMDB.not_found(data_dir))
    train_docs, y_train = read_reviews(folder / "train")
    val_docs, y_val = read_reviews(folder / "test")
    vocab = build_vocab(train_docs, max_vocab)
    return Split(
        torch.from_numpy(encode(train_docs, vocab, max_len)),
        torch.from_numpy(y_train),
        torch.from_numpy(encode(val_docs, vocab, max_len)),
        torch.from_numpy(y_val),
        num_classes=2,
    )
