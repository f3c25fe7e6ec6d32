"""GGUFTokenizer: the byte-level BPE tokenizer and chat template a GGUF carries in its metadata.

Built through `tokenizers` from tokenizer.ggml.{tokens,merges,token_type,*_id,pre}; the split
regex follows the pre-tokenizer type (smollm, llama-bpe, qwen2, gpt2 ...). Two dialects exist:
compat="transformers" (default) gives the ids of transformers' GGUF loader, the project's parity
reference; compat="llama.cpp" follows llama.cpp (and SmolLM2's own tokenizer.json): 'smollm' splits
digits off before GPT-2's regex (only whitespace runs before a digit differ: 161 of ~40k tokens on
../shared/notes) and llama-bpe looks whole words up before merging. CONTROL tokens
are special (matched whole, skipped by decode(skip_special=True)); USER_DEFINED tokens are matched
whole. The chat template is rendered with jinja2 in a sandbox, as transformers does.
"""
from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from rag.model.errors import TokenizerError
from rag.model.gguf import GGUFModel, read_gguf

CONTROL, USER_DEFINED = 3, 4
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<end_of_turn>", "<|end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# llama.cpp pre-tokenizer type -> split regex; types not listed (gpt2, smollm, ...) use GPT-2's regex in ByteLevel
_SPLITS = {
    "llama-bpe": _LLAMA3_SPLIT, "llama3": _LLAMA3_SPLIT, "llama-v3": _LLAMA3_SPLIT, "smaug-bpe": _LLAMA3_SPLIT,
    "dbrx": _LLAMA3_SPLIT, "falcon3": _LLAMA3_SPLIT, "pixtral": _LLAMA3_SPLIT,
    "qwen2": _QWEN2_SPLIT, "deepseek-r1-qwen": _QWEN2_SPLIT, "megrez": _QWEN2_SPLIT,
}
_IGNORE_MERGES = {"llama-bpe", "llama3", "llama-v3"}  # llama.cpp looks whole words up first for these
COMPAT = ("transformers", "llama.cpp")


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """GPT-2's printable spelling of bytes, inverted: char -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


@lru_cache(maxsize=1)
def _outside_alphabet() -> re.Pattern:
    """Matches any character GPT-2's byte alphabet does not use."""
    return re.compile("[^" + re.escape("".join(byte_decoder())) + "]")


def _respell(token: str) -> str:
    """A token the GGUF stores as raw text (outside the byte alphabet) spelled in the alphabet, as transformers does."""
    if not _outside_alphabet().search(token):
        return token
    encoder = {b: c for c, b in byte_decoder().items()}
    return "".join(encoder[b] for b in token.encode("utf-8"))


def _pre_tokenizer(pre: str | None, compat: str):
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if pre in _SPLITS:
        return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(_SPLITS[pre]), behavior="isolated"), byte_level])
    gpt2 = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm" and compat == "llama.cpp":  # "\p{N}" then GPT-2's regex
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), gpt2])
    return gpt2


class GGUFTokenizer:
    """encode / decode / apply_chat_template over a GGUF's own vocabulary."""

    def __init__(
        self, meta: dict, tokens: list[str], merges: list[str], token_types: Iterable[int], source: str,
        compat: str = "transformers",
    ):
        if compat not in COMPAT:
            raise ValueError(f"compat must be one of {COMPAT}, not {compat!r}")
        self.source = source
        self.compat = compat
        self.tokens = tokens
        self.vocab_size = len(tokens)
        self.pre = meta.get("tokenizer.ggml.pre")
        types = list(token_types) or [1] * len(tokens)
        spelled = set(byte_decoder())
        raw_text = _outside_alphabet().search("".join(tokens)) is not None
        vocab = {(_respell(tok) if raw_text else tok): i for i, tok in enumerate(tokens)}
        pairs = [tuple(m.split(" ", 1)) for m in merges]
        try:
            bpe = models.BPE(vocab=vocab, merges=pairs, fuse_unk=False,
                             ignore_merges=compat == "llama.cpp" and self.pre in _IGNORE_MERGES)
        except Exception as exc:  # tokenizers raises its own Exception subclass for bad merges
            raise TokenizerError(source, f"cannot build the BPE model: {exc}") from exc
        self._special = {i for i, t in enumerate(types) if t == CONTROL and set(tokens[i]) <= spelled}
        self._tok = self._build(bpe, types, spelled)
        self._tok_literal = None
        self.bos_id = _opt_int(meta.get("tokenizer.ggml.bos_token_id"))
        self.eos_id = _opt_int(meta.get("tokenizer.ggml.eos_token_id"))
        self.pad_id = _opt_int(meta.get("tokenizer.ggml.padding_token_id"))
        self.add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", False))
        self.add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
        for name, i in (("bos", self.bos_id), ("eos", self.eos_id), ("padding", self.pad_id)):
            if i is not None and not 0 <= i < len(tokens):
                raise TokenizerError(
                    source, f"tokenizer.ggml.{name}_token_id {i} is outside the vocabulary of {len(tokens)}")
        self.bos_token = tokens[self.bos_id] if self.bos_id is not None else None
        self.eos_token = tokens[self.eos_id] if self.eos_id is not None else None
        self.eos_ids = self._end_ids(meta)
        self.chat_template = meta.get("tokenizer.chat_template") or CHATML_TEMPLATE
        self._template = None
        self._special_re: re.Pattern | None = None
        self._bytes: list[bytes | None] = [None] * len(tokens)

    def _build(self, bpe, types: list[int], spelled: set[str]) -> Tokenizer:
        tok = Tokenizer(bpe)
        tok.pre_tokenizer = _pre_tokenizer(self.pre, self.compat)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(self.tokens[i], normalized=False, special=True)
                                for i in sorted(self._special)])
        user = [AddedToken(t, normalized=False, special=False)
                for t, k in zip(self.tokens, types) if k == USER_DEFINED and set(t) <= spelled]
        if user:
            tok.add_tokens(user)
        return tok

    def _end_ids(self, meta: dict) -> set[int]:
        ids = {self.eos_id}
        for key in ("eot_token_id", "eom_token_id"):
            ids.add(_opt_int(meta.get(f"tokenizer.ggml.{key}")))
        ids.update(i for i in self._special if self.tokens[i] in END_OF_TURN)
        ids.discard(None)
        return ids

    @classmethod
    def from_gguf(cls, source: str | Path | GGUFModel, compat: str = "transformers") -> GGUFTokenizer:
        """Tokenizer of a GGUF path or an already opened GGUFModel, in the given dialect (see module doc)."""
        model = source if isinstance(source, GGUFModel) else read_gguf(source)
        meta = model.metadata
        kind = meta.get("tokenizer.ggml.model")
        if kind != "gpt2":
            raise TokenizerError(
                model.path, f"tokenizer.ggml.model is {kind!r}; only byte-level BPE ('gpt2') is supported")
        tokens, merges = model.array("tokenizer.ggml.tokens"), model.array("tokenizer.ggml.merges")
        if not isinstance(tokens, list) or not tokens or not isinstance(merges, list):
            raise TokenizerError(model.path, "tokenizer.ggml.tokens or tokenizer.ggml.merges is missing or not strings")
        types = model.array("tokenizer.ggml.token_type")
        return cls(meta, list(tokens), list(merges), [] if types is None else types.tolist(), str(model.path), compat)

    def encode(self, text: str, add_special: bool = False, parse_special: bool = True) -> list[int]:
        """Token ids of text; add_special adds BOS/EOS where the GGUF asks for them; parse_special=False
        reads special-token strings in text as plain text (use it for untrusted text)."""
        tok = self._tok if parse_special else self._literal()
        ids = tok.encode(text, add_special_tokens=False).ids
        if add_special and self.add_bos and self.bos_id is not None:
            ids.insert(0, self.bos_id)
        if add_special and self.add_eos and self.eos_id is not None:
            ids.append(self.eos_id)
        return ids

    def _literal(self) -> Tokenizer:
        if self._tok_literal is None:
            self._tok_literal = Tokenizer.from_str(self._tok.to_str())
            self._tok_literal.encode_special_tokens = True
        return self._tok_literal

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> str:
        """Text of ids (invalid UTF-8 becomes U+FFFD)."""
        return self._tok.decode(list(ids), skip_special_tokens=skip_special)

    def id_to_piece(self, i: int) -> str:
        """The vocabulary entry as the GGUF spells it (byte-level alphabet, e.g. 'Ġthe')."""
        return self.tokens[i]

    def is_special(self, i: int) -> bool:
        """True for CONTROL tokens such as <|im_end|>."""
        return i in self._special

    def token_bytes(self, i: int) -> bytes:
        """Raw bytes token i stands for (special tokens: their UTF-8 text)."""
        cached = self._bytes[i]
        if cached is None:
            piece = self.tokens[i]
            table = byte_decoder()
            if i in self._special or not set(piece) <= table.keys():
                cached = piece.encode("utf-8")
            else:
                cached = bytes(table[c] for c in piece)
            self._bytes[i] = cached
        return cached

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True, **kwargs) -> str:
        """The prompt text for a conversation, rendered by the GGUF's jinja chat template."""
        if self._template is None:
            self._template = _compile(self.chat_template)
        return self._template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token or "",
            eos_token=self.eos_token or "",
            **kwargs,
        )

    def encode_chat(self, messages: list[dict], add_generation_prompt: bool = True, **kwargs) -> list[int]:
        """Prompt ids of a conversation in which special-token text inside message contents stays plain
        text, so untrusted notes cannot open or close turns; otherwise encode(apply_chat_template(...)).
        Production prompts must come through here (LocalLM.stream_chat, the local chat backend)."""
        rendered = self.apply_chat_template(messages, add_generation_prompt, **kwargs)
        contents = [m.get("content") for m in messages]
        if not any(isinstance(c, str) and self._special_text().search(c) for c in contents):
            return self.encode(rendered)
        marked = [dict(m, content=f"\ue000{i}\ue001") if isinstance(c, str) else m
                  for i, (m, c) in enumerate(zip(messages, contents))]
        parts = re.split("\ue000(\\d+)\ue001", self.apply_chat_template(marked, add_generation_prompt, **kwargs))
        # parts alternate: template text, message index, template text, ..., template text
        pieces = [contents[int(p)] if j % 2 else p for j, p in enumerate(parts)]
        if "".join(pieces) != rendered:  # the template rewrote a content (trim, ...): defang it instead
            defanged = [dict(m, content=self._defang(c)) if isinstance(c, str) else m
                        for m, c in zip(messages, contents)]
            return self.encode(self.apply_chat_template(defanged, add_generation_prompt, **kwargs))
        ids: list[int] = []
        for j, piece in enumerate(pieces):
            ids += self.encode(piece, parse_special=not j % 2)
        return ids

    def _special_text(self) -> re.Pattern:
        if self._special_re is None:
            names = sorted((self.tokens[i] for i in self._special), key=len, reverse=True)
            self._special_re = re.compile("|".join(map(re.escape, names)) or "(?!)", re.IGNORECASE)  # <|IM_END|> too
        return self._special_re

    def _defang(self, text: str) -> str:
        """Special-token strings, in any letter case, broken by a word joiner after their first character."""
        return self._special_text().sub(lambda m: m.group(0)[0] + "\u2060" + m.group(0)[1:], text)

    def stream_decoder(self, skip_special: bool = True) -> StreamDecoder:
        """A fresh incremental detokenizer over this vocabulary."""
        return StreamDecoder(self, skip_special=skip_special)

    def decode_stream(self, ids: Iterable[int]) -> Iterator[str]:
        """Text pieces as token ids arrive; a multi-byte character is held back until it is whole."""
        decoder = self.stream_decoder()
        for i in ids:
            piece = decoder.push(i)
            if piece:
                yield piece
        tail = decoder.flush()
        if tail:
            yield tail


class StreamDecoder:
    """Incremental detokenizer: push token ids, get the newly printable text; incomplete UTF-8 is held back."""

    def __init__(self, tokenizer: GGUFTokenizer, skip_special: bool = True):
        self.tokenizer = tokenizer
        self.skip_special = skip_special
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, ids: int | Iterable[int]) -> str:
        """New text completed by these ids ('' while a multi-byte character is incomplete)."""
        tok = self.tokenizer
        ids = [ids] if isinstance(ids, int) else ids
        data = b"".join(tok.token_bytes(i) for i in ids if not (self.skip_special and tok.is_special(i)))
        return self._utf8.decode(data)

    def flush(self) -> str:
        """Whatever is still held back, with U+FFFD for an unfinished character."""
        return self._utf8.decode(b"", final=True)


def _opt_int(value) -> int | None:
    return None if value is None else int(value)


def _compile(source: str):
    """Compile a chat template in jinja2's immutable sandbox with transformers' helpers."""
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)
