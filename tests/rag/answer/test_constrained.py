"""Copy-biased decoding: the processor boosts tokens that start or continue an evidence span."""
import torch

from rag.answer.backends.constrained import CopyBias


class WordTok:
    """One id per word (a stand-in tokenizer)."""

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def encode(self, text):
        return [self.vocab.setdefault(w, len(self.vocab)) for w in text.split()]


def test_copy_bias_boosts_continuations_and_tracks_sources():
    tok = WordTok()
    proc = CopyBias(tok, ["ema keeps an average", "gans have a discriminator"], bias=5.0)
    vocab = 20
    first = proc([], torch.zeros(vocab))
    assert first[tok.vocab["ema"]] == 5.0 and first[tok.vocab["gans"]] == 5.0 and first[tok.vocab["an"]] == 0.0
    nxt = proc([tok.vocab["ema"]], torch.zeros(vocab))
    assert nxt[tok.vocab["keeps"]] == 5.0 and nxt[tok.vocab["discriminator"]] == 0.0
    proc([tok.vocab["ema"], tok.vocab["keeps"]], torch.zeros(vocab))
    assert proc.sources[-1] == {1}
