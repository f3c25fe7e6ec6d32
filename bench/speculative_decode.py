"""Prompt-lookup speculative decoding against plain greedy decoding, on the prompts the chain sends: the `spec`
engine of bench/decode.py (run there, in a process of its own, with its keys in the summary).

Four questions, each prompt built as the chain builds it (grounded_messages over the notes' first EVIDENCE sentences
holding the question's topic word), each answer to its natural end: grounded mode's answers (spec_* keys: they copy
their evidence sentences) and constrained mode's copy-biased ones (constrained_spec_*), plus what a verifying step
costs by rows.
"""
from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EVIDENCE = 6  # evidence sentences in a spec prompt, what the chain passes for a two-part question
SPEC_QUESTIONS = (("EMA", "What is EMA in diffusion models and why is it used?"),
                  ("batch normalization", "What does batch normalization do?"),
                  ("overfitting", "How can overfitting be reduced?"),
                  ("dropout", "What is dropout?"))  # (a word its evidence lines hold, the question)


def evidence_prompt(tokenizer, word: str, question: str) -> tuple[list[int], list[str]]:
    """A grounded prompt as the chain builds it, over the notes' first EVIDENCE sentences holding word (any case
    when it is written in lower case), and those sentences."""
    from rag.answer.prompts import grounded_messages
    from rag.core.text import sentence_spans

    def holds(text: str) -> bool:
        return word in (text.lower() if word.islower() else text)

    folder = ROOT.parent / "shared" / "notes"
    folder = folder if folder.is_dir() else ROOT / "examples" / "notes"
    lines = [line.strip().lstrip("-* ") for f in sorted(folder.glob("*.*")) if f.suffix in (".txt", ".md")
             for line in f.read_text(encoding="utf-8", errors="replace").splitlines() if holds(line)]
    sentences = [line[a:b] for line in lines for a, b in sentence_spans(line) if holds(line[a:b])][:EVIDENCE]
    messages = grounded_messages(question, sentences)
    ids = tokenizer.encode_chat([{"role": "system" if m.type == "system" else "user", "content": m.content}
                                 for m in messages])
    return ids, sentences


def run_spec(new: int, gguf: str, weights: str = "int4") -> dict:
    """Plain greedy decoding against prompt-lookup speculative decoding on the chain's answers to SPEC_QUESTIONS
    (each to its end or new tokens), summed: grounded mode's answers (spec_* keys: they copy their evidence
    sentences) and constrained mode's copy-biased ones (constrained_spec_*)."""
    import torch

    from rag.answer.backends.constrained import citing_copy_bias
    from rag.core.settings import load_settings
    from rag.model.generate import LocalLM

    lm = LocalLM.load(gguf, weights=weights, max_context=2048)
    prompts = [evidence_prompt(lm.tokenizer, word, question) for word, question in SPEC_QUESTIONS]
    bias = load_settings().answer.copy_bias
    res: dict = {"prompt_tokens": [len(ids) for ids, _ in prompts], "decoder": lm.decoder}
    for mode, prefix in (("grounded", "spec_"), ("constrained", "constrained_spec_")):
        tokens, seconds, answers = {False: [], True: []}, {False: 0.0, True: 0.0}, []
        stats = {"steps": 0, "drafted": 0, "accepted": 0}
        for ids, evidence in prompts:
            kept = {}
            for speculate in (False, True, False, True):  # interleaved, the second of each kept (warm caches)
                process = citing_copy_bias(lm.tokenizer, evidence, bias) if mode == "constrained" else None
                first, out = None, []
                for token in lm.generate_ids(ids, max_new_tokens=new, speculate=speculate, logits_processor=process):
                    first = first or time.perf_counter()
                    out.append(token)
                kept[speculate] = (out, time.perf_counter() - first if first else 0.0)
            for key in stats:  # of the last, speculative, run
                stats[key] += getattr(lm.speculation, key)
            for speculate, (out, took) in kept.items():
                tokens[speculate].append(out)
                seconds[speculate] += took
            answers.append(lm.tokenizer.decode(kept[True][0], skip_special=True))
        rate = {s: sum(max(len(o) - 1, 0) for o in tokens[s]) / seconds[s] for s in (False, True)}
        res.update({f"{prefix}plain_tok_s": rate[False], f"{prefix}effective_tok_s": rate[True],
                    f"{prefix}identical": tokens[False] == tokens[True],
                    f"{prefix}acceptance_rate": stats["accepted"] / max(stats["drafted"], 1),
                    f"{prefix}tokens_per_step": sum(map(len, tokens[True])) / (stats["steps"] + len(prompts)),
                    f"{prefix}answers": answers})
    ids = prompts[0][0]
    step_ms = {}
    with torch.inference_mode():
        for rows in (1, 2, 4, 8):  # what verifying a draft costs: one batched step of 1 + draft tokens
            lm._steps(ids[:rows], len(ids))
            t = time.perf_counter()
            for _ in range(10):
                lm._steps(ids[:rows], len(ids))
            step_ms[rows] = (time.perf_counter() - t) / 10 * 1000
    res["step_ms_by_rows"] = step_ms
    return res
