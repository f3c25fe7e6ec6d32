"""The real SmolLM2 GGUF: fp32 logits and greedy tokens match HF transformers; packed paths stay close to fp32."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rag.model.generate import LocalLM

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ours(smollm_path) -> LocalLM:
    return LocalLM.load(smollm_path, weights="fp32", max_context=1024)


@pytest.fixture(scope="module")
def hf(smollm_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(smollm_path.parent), gguf_file=smollm_path.name, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def notes_ids(ours, shared_notes: Path) -> list[int]:
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(shared_notes.glob("*.txt")))
    return ours.tokenizer.encode(text, parse_special=False)[:512]


def _teacher_forced(lm: LocalLM, ids: list[int]) -> torch.Tensor:
    lm.model.setup_caches(1, lm.context_length)
    with torch.inference_mode():
        return lm.model(torch.tensor([ids]), 0)[0]  # (T, V)


def test_fp32_logits_match_hf_on_256_notes_tokens(ours, hf, notes_ids):
    ids = notes_ids[:256]
    with torch.inference_mode():
        ref = hf(torch.tensor([ids])).logits[0]
    assert (_teacher_forced(ours, ids) - ref).abs().max() <= 1e-3


def test_same_64_greedy_tokens_as_hf(ours, hf):
    prompt = ours.tokenizer.encode(ours.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Explain why diffusion models keep an EMA of their weights."}]))
    got = list(ours.generate_ids(prompt, max_new_tokens=64, stop_ids=set()))
    with torch.inference_mode():
        out = hf.generate(torch.tensor([prompt]), max_new_tokens=64, min_new_tokens=64, do_sample=False)
    assert got == out[0, len(prompt):].tolist()


def _perplexity(logits: torch.Tensor, ids: list[int]) -> float:
    return float(torch.exp(torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:]))))


@pytest.mark.parametrize("weights", ["int4", "int8"])
@pytest.mark.parametrize("prefill_dtype,min_top1", [(torch.float32, 0.99), (torch.bfloat16, 0.98)])
def test_packed_paths_track_fp32(smollm_path, ours, notes_ids, weights, prefill_dtype, min_top1):  # noqa: F811
    """Teacher-forced over 512 notes tokens: perplexity within 1%, top-1 agreement >= min_top1.

    Both packed layouts hold the GGUF's Q4_1 codes exactly, so their fp32 many-row path multiplies the exact fp32
    weights; what remains is the fp16 KV cache of the native decoder: measured 99.8% top-1, perplexity -0.02%, for
    both. The bf16 prefill (rag/model/precision.py) measured 98.4% top-1 (near-ties), perplexity -0.2%, max |logit
    diff| 0.97 on logits up to 21.
    """
    ref = _teacher_forced(ours, notes_ids)
    lm = LocalLM.load(smollm_path, weights=weights, max_context=1024)
    assert lm.model.set_prefill_dtype(prefill_dtype) == prefill_dtype
    got = _teacher_forced(lm, notes_ids)
    assert abs(_perplexity(got, notes_ids) / _perplexity(ref, notes_ids) - 1) < 0.01
    assert (got.argmax(-1) == ref.argmax(-1)).float().mean() >= min_top1


@pytest.mark.parametrize("weights,max_ppl_change", [("int4", 0.02), ("int8", 0.01)])
def test_decode_steps_track_fp32(smollm_path, ours, notes_ids, weights, max_ppl_change):  # noqa: F811
    """One token at a time through our packed kernels (int16 activations), top-1 >= 99%.

    Measured with fp16 KV caches: int8 99.4% top-1, perplexity -0.03% (its head holds the GGUF's Q8_0
    embedding exactly); int4 99.2%, perplexity +1.7%, the perplexity from its int4 head on tokens outside
    RescoredHead's top 16 (fp32 KV caches gave 100% and 99.8% top-1).
    """
    ref = _teacher_forced(ours, notes_ids)
    lm = LocalLM.load(smollm_path, weights=weights, max_context=1024)
    with torch.inference_mode():
        got = torch.stack([lm._step(t, i) for i, t in enumerate(notes_ids)])
    assert (got.argmax(-1) == ref.argmax(-1)).float().mean() >= 0.99
    assert abs(_perplexity(got, notes_ids) / _perplexity(ref, notes_ids) - 1) < max_ppl_change
