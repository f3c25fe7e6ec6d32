"""Retrieval layer: the index store, embedders, BM25, fusion and the LangChain retriever; imports rag.core only."""
