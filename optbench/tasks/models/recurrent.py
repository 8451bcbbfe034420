"""The LSTM sentiment classifier of [MS]'s IMDB task.

Built like the Keras IMDB LSTM example: an embedding of the 20,000-id vocabulary
(``optbench.tasks.text.MAX_VOCAB``, PAD and UNK included) into 128 dimensions, one LSTM
layer of 128 units, and the last hidden state into the ``output`` layer (2 logits for
cross-entropy rather than Keras' one sigmoid unit). Sequences are left-padded, so the
last time step is the last word of the review.
"""

from __future__ import annotations

from torch import Tensor, nn

from optbench.tasks.text import MAX_VOCAB, PAD

EMBED_DIM = 128
HIDDEN = 128


class LSTMClassifier(nn.Module):
    def __init__(
        self, num_classes: int, vocab_size: int = MAX_VOCAB, embed_dim: int = EMBED_DIM,
        hidden: int = HIDDEN,
    ) -> None:  # fmt: skip
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=1, batch_first=True)
        self.output = nn.Linear(hidden, num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        _, (h_n, _) = self.lstm(self.embedding(ids))
        return self.output(h_n[-1])


def lstm_classifier(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[MS] LSTM for IMDB: embedding 20,000 x 128, LSTM(128), last hidden state -> output.
    ``input_shape`` is (sequence length,); any length works."""
    return LSTMClassifier(num_classes)
