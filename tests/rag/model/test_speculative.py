"""Prompt-lookup speculative decoding: drafts from the prompt, a batched native step that gives each row the bits of a
one-token step, and greedy output identical to plain decoding token for token."""
from __future__ import annotations

import itertools

import pytest
import torch

from rag.model import native
from rag.model.generate import LocalLM
from rag.model.native_decode import NativeDecoder
from rag.model.speculative import PAUSE, Pacer, PromptLookup
from tests.rag.model.gguf_fixture import write_tiny_gguf

needs_kernels = pytest.mark.skipif(native.kernels() is None, reason="no C compiler or no AVX2/FMA/F16C here")
TEXT = ("Attention lets every token look at every other token; transformers stack attention and MLP layers. "
        "The EMA copy is updated after every optimiser step.")
K_QUANTS = dict(dim=256, hidden_dim=512, n_heads=4, n_kv_heads=2, qtype="Q4_K", embd_qtype="Q6_K",
                qtypes={"attn_v": "Q6_K", "ffn_down": "Q6_K"})
CASES = {  # name: (write_tiny_gguf arguments, weights)
    "q4_1-int4-llama": (dict(qtype="Q4_1"), "int4"),
    "q8_0-int8-qwen2": (dict(qtype="Q8_0", arch="qwen2"), "int8"),
    "q4_k_m-qwen2-untied": (dict(K_QUANTS, arch="qwen2", tie_embeddings=False), "int4"),
    "q4_k_m-llama3-tied": (dict(K_QUANTS, rope_freqs=[1.0 + i / 4 for i in range(32)]), "int4"),
}


def test_prompt_lookup_drafts_what_followed_the_latest_longest_match():
    lookup = PromptLookup([1, 2, 3, 4, 5, 9, 2, 3, 7, 8])
    lookup.extend([2, 3])
    assert lookup.draft(3) == [7, 8, 2]  # "2 3" last came before 7 8 (the trigram "8 2 3" is new)
    lookup.extend([4])
    assert lookup.draft(2) == [5, 9]  # the trigram "2 3 4" first, then what followed it
    assert lookup.draft(0) == [] and PromptLookup([1, 2]).draft(4) == []


def _lm(tmp_path, case: str) -> LocalLM:
    """A tiny model whose steps all take one tick of its clock: batches always pay, the Pacer never pauses."""
    kwargs, weights = CASES[case]
    tiny = write_tiny_gguf(tmp_path / f"{case}.gguf", context_length=160, **kwargs)
    lm = LocalLM.load(tiny.path, weights=weights, use_cache=False)
    lm.clock = itertools.count().__next__
    return lm


@needs_kernels
@pytest.mark.parametrize("case", list(CASES))
def test_speculative_greedy_is_plain_greedy_token_for_token(tmp_path, case):
    lm = _lm(tmp_path, case)
    assert lm.decoder == "NativeDecoder" and lm.speculative
    prompt = lm.tokenizer.encode(TEXT)
    prompt += prompt[:5]  # the start again: the prompt itself drafts its continuation
    plain = list(lm.generate_ids(prompt, max_new_tokens=60, stop_ids=set(), speculate=False))
    assert lm.speculation.steps == 0
    fast = list(lm.generate_ids(prompt, max_new_tokens=60, stop_ids=set()))
    assert fast == plain and len(plain) == 60
    stats = lm.speculation
    assert stats.accepted > 0 and stats.steps < 59  # drafts were verified and kept: fewer passes than tokens


@needs_kernels
def test_rejected_drafts_leave_nothing_behind(tmp_path):
    lm = _lm(tmp_path, "q4_1-int4-llama")
    prompt = lm.tokenizer.encode(TEXT)
    prompt += prompt[:5]
    plain = list(lm.generate_ids(prompt, max_new_tokens=60, stop_ids=set(), speculate=False))
    assert list(lm.generate_ids(prompt, max_new_tokens=60, stop_ids=set())) == plain
    assert 0 < lm.speculation.accepted < lm.speculation.drafted  # some drafts were wrong, and cost nothing


@needs_kernels
@pytest.mark.parametrize("case", ["q4_1-int4-llama", "q8_0-int8-qwen2", "q4_k_m-qwen2-untied"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_batched_step_gives_each_row_the_bits_of_a_single_step(tmp_path, case, threads, kernel_path):
    lm = _lm(tmp_path, case)
    decoder = NativeDecoder(lm.model)
    tokens = lm.tokenizer.encode(TEXT)[:20]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            lm.model.setup_caches(1, 64)
            lm.model(torch.tensor([tokens[:6]]), 0)
            alone = torch.stack([decoder.step(t, i) for i, t in enumerate(tokens[6:], start=6)])
            for size in (2, 5, native.MAX_ACT_ROWS):
                lm.model.setup_caches(1, 64)
                lm.model(torch.tensor([tokens[:6]]), 0)
                chunks = [decoder.steps(tokens[i:i + size], i) for i in range(6, len(tokens), size)]
                assert torch.equal(torch.cat(chunks), alone), size
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="1 to 8 tokens"):
        decoder.steps(tokens[:9], 0)


@needs_kernels
def test_stops_budget_and_context_end_hold_inside_accepted_drafts(tmp_path):
    lm = _lm(tmp_path, "q4_1-int4-llama")
    prompt = lm.tokenizer.encode(TEXT)
    prompt += prompt[:5]
    plain = list(lm.generate_ids(prompt, max_new_tokens=40, stop_ids=set(), speculate=False))
    stop = plain[25]
    cut = plain[:plain.index(stop)]
    assert list(lm.generate_ids(prompt, max_new_tokens=40, stop_ids={stop})) == cut
    for budget in (1, 2, 7, 13):
        assert list(lm.generate_ids(prompt, max_new_tokens=budget, stop_ids=set())) == plain[:budget]
    long_prompt = (prompt * 6)[:150]  # 10 positions left in the 160-position context
    tail = list(lm.generate_ids(long_prompt, max_new_tokens=40, stop_ids=set()))
    assert tail == list(lm.generate_ids(long_prompt, max_new_tokens=40, stop_ids=set(), speculate=False))
    assert len(tail) == 10


@needs_kernels
def test_sampling_decodes_one_token_at_a_time(tmp_path, monkeypatch):
    lm = _lm(tmp_path, "q4_1-int4-llama")
    prompt = lm.tokenizer.encode(TEXT)

    def no_batches(tokens, pos):
        raise AssertionError("a batched step while sampling")

    monkeypatch.setattr(lm, "_steps", no_batches)
    assert len(list(lm.generate_ids(prompt, max_new_tokens=10, temperature=0.7, stop_ids=set()))) == 10
    with pytest.raises(AssertionError, match="batched step"):
        list(lm.generate_ids(prompt, max_new_tokens=10, stop_ids=set()))


class CopyPrompt:
    """A logits processor that pushes the token that followed the last one in the prompt, recording each call."""

    def __init__(self, prompt: list[int]) -> None:
        self.prompt, self.calls = prompt, []

    def __call__(self, generated: list[int], logits: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(generated))
        logits = logits.clone()
        if generated and generated[-1] in self.prompt[:-1]:
            logits[self.prompt[self.prompt.index(generated[-1]) + 1]] += 5.0
        return logits


@needs_kernels
@pytest.mark.parametrize("budget", [1, 9, 60])
def test_a_logits_processor_is_called_as_plain_decoding_calls_it(tmp_path, budget):
    lm = _lm(tmp_path, "q4_1-int4-llama")
    prompt = lm.tokenizer.encode(TEXT)
    prompt += prompt[:5]
    plain_proc, fast_proc = CopyPrompt(prompt), CopyPrompt(prompt)
    plain = list(lm.generate_ids(prompt, max_new_tokens=budget, stop_ids=set(), speculate=False,
                                 logits_processor=plain_proc))
    assert plain != list(lm.generate_ids(prompt, max_new_tokens=budget, stop_ids=set(), speculate=False)) or budget == 1
    fast = list(lm.generate_ids(prompt, max_new_tokens=budget, stop_ids=set(), logits_processor=fast_proc))
    assert fast == plain and len(plain) == budget
    assert fast_proc.calls == plain_proc.calls  # once per decided token, in order, none for rejected rows
    if budget == 60:
        assert lm.speculation.accepted > 0 and lm.speculation.steps < 59
    stop = plain[-1]
    assert list(lm.generate_ids(prompt, max_new_tokens=budget, stop_ids={stop},
                                logits_processor=CopyPrompt(prompt))) == plain[:plain.index(stop)]


def test_the_pacer_judges_batches_over_a_trial_and_pauses_drafting_while_they_cost_more_per_token():
    pacer = Pacer(clock=lambda: 0.0)
    pacer.record(0.010, rows=4, tokens=3)  # no one-token step timed yet: nothing to compare
    pacer.record(0.010, rows=1, tokens=1)
    pacer.record(0.036, rows=6, tokens=1)  # a rejected draft: 36 ms a token, but the trial is too short to judge
    assert pacer.allow()
    for _ in range(2):
        pacer.record(0.016, rows=6, tokens=6)  # the trial: 0.078 s for 16 tokens, 4.9 ms a token against 10
    assert pacer.allow() and (pacer.trial_seconds, pacer.trial_tokens) == (0.0, 0)  # it pays: a new trial starts
    for _ in range(PAUSE // 2):
        pacer.record(0.024, rows=3, tokens=2)  # 12 ms a token over PAUSE tokens
    assert [pacer.allow() for _ in range(PAUSE + 1)] == [False] * PAUSE + [True]
    assert (pacer.trial_seconds, pacer.trial_tokens) == (0.0, 0)  # batches are timed afresh after the pause


@needs_kernels
def test_a_paused_pacer_still_gives_plain_greedy_tokens(tmp_path):
    lm = _lm(tmp_path, "q4_1-int4-llama")
    ticks = itertools.count()
    lm.clock = lambda: next(ticks) ** 2  # every step dearer than the one before: batches never pay
    prompt = lm.tokenizer.encode(TEXT)
    prompt += prompt[:5]
    plain = list(lm.generate_ids(prompt, max_new_tokens=60, stop_ids=set(), speculate=False))
    assert list(lm.generate_ids(prompt, max_new_tokens=60, stop_ids=set())) == plain
    assert lm.speculation.drafted < 20  # drafting paused most of the time
