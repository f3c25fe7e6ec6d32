# notes-rag HTTP service, CPU only. Build:  docker build -t notes-rag .
# The container binds 0.0.0.0, so every endpoint but /health needs RAG_API_KEY (the server refuses to start
# without one); clients send `Authorization: Bearer KEY`.
# Run on the bundled sample notes:  docker run --rm -p 8000:8000 -e RAG_API_KEY=change-me notes-rag
# Run on your notes (index kept in a volume):
#   docker run --rm -p 8000:8000 -v "$PWD/notes:/notes:ro" -v rag-data:/data -e RAG_API_KEY=change-me notes-rag
# Reached by another name than localhost (DNS rebinding guard): add -e RAG_ALLOWED_HOSTS=notes.example.com
# Scale-out (Qdrant, an LLM server, N API replicas behind a proxy): deploy/compose.yaml. Details: docs/serving.md,
# docs/scaling.md
ARG PYTHON_VERSION=3.11

# ---- build: deploy/install.sh (the one install script, also run by `make test`) with a C compiler ----
FROM python:${PYTHON_VERSION}-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libgomp1 \
 && rm -rf /var/lib/apt/lists/*
# torch from the PyTorch CPU index, so no dependency can pull a CUDA build; the kernel is built into RAG_CACHE_DIR,
# its cache entry keyed by the compiler path CC (the runtime names the same path)
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu \
    RAG_CACHE_DIR=/opt/rag-cache CC=/usr/bin/gcc
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/install.sh ./deploy/install.sh
COPY rag ./rag
COPY ingest ./ingest
COPY serve ./serve
COPY eval ./eval
# fails the build when a model package is missing or the native decode kernel does not build and load
RUN sh deploy/install.sh /opt/venv qdrant

# ---- runtime: the venv, the built kernel (no compiler here), the sample notes, a non-root user ----
FROM python:${PYTHON_VERSION}-slim AS runtime
# libgomp1: the OpenMP runtime the kernel links against (a library, not a compiler)
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 rag \
 && mkdir -p /data /notes \
 && chown rag:rag /data
COPY --from=build /opt/venv /opt/venv
# the kernel library with its recorded sha256, owned by the user that loads it (rag.model.native trusts only that)
COPY --from=build --chown=rag:rag /opt/rag-cache /opt/rag-cache
COPY --chown=rag:rag examples/notes /notes
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    RAG_CACHE_DIR=/opt/rag-cache CC=/usr/bin/gcc \
    RAG_NOTES=/notes RAG_INDEX=/data/index
USER rag
# fail the build here, not at run time, if the shipped kernel does not load without a compiler
RUN python -c "import sys; from rag.model import native; sys.exit('shipped native kernel did not load' if native.kernels() is None else 0)"
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# /health is 200 once the index and the model are loaded (the first start ingests /notes); it needs no key
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["rag", "serve", "--host", "0.0.0.0", "--port", "8000"]
