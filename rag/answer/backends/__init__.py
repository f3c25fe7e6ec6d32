"""LLM backends as LangChain chat models: the bundled local model (loaded on a thread), OpenAI-compatible, copy-biased decoding."""
