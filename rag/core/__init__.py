"""Base layer: settings, plain records, errors, the text toolkit and model-file lookup; imports no other rag layer."""
