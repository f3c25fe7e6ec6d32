"""LLM backends as LangChain chat models: the bundled local model (loaded on a thread), an OpenAI-compatible
server, and copy-biased decoding."""
