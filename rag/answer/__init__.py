"""Answering layer: evidence, grounding, abstention, citations, quotes, prompts, LLM backends and the chain."""
