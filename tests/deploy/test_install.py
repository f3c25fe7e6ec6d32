"""The image's install steps, tested without a Docker engine: deploy/install.sh (what the Dockerfile's build stage
runs) installs into a fresh venv and builds a native kernel that then loads without compiling (the runtime stage
has no compiler); the Dockerfile and deploy/compose.yaml stay tied to the script and to the settings' names."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rag.core.settings import ENV_VARS

ROOT = Path(__file__).resolve().parents[2]
LOAD = "import sys; from rag.model import native; sys.exit(0 if native.kernels() is not None else 'no kernel')"


def _stages(dockerfile: str) -> dict[str, str]:
    """Stage name -> its lines, from a multi-stage Dockerfile."""
    parts = re.split(r"^FROM \S+ AS (\w+)\s*$", dockerfile, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def test_dockerfile_builds_with_the_install_script_and_ships_the_kernel():
    stages = _stages((ROOT / "Dockerfile").read_text())
    assert set(stages) == {"build", "runtime"}
    assert "RUN sh deploy/install.sh /opt/venv qdrant" in stages["build"] and "gcc" in stages["build"]
    assert "gcc" not in stages["runtime"].replace("CC=/usr/bin/gcc", "")      # no compiler in the runtime image
    assert "COPY --from=build --chown=rag:rag /opt/rag-cache /opt/rag-cache" in stages["runtime"]
    cc = {re.search(r"CC=(\S+)", s).group(1) for s in stages.values()}
    assert cc == {"/usr/bin/gcc"}                 # the runtime names the compiler that keyed the shipped library
    assert "native.kernels() is None" in stages["runtime"].split("USER rag", 1)[1]   # loaded as the service user


def test_compose_services_and_settings_names():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert set(compose["services"]) == {"qdrant", "llm", "api", "proxy", "ingest"}
    env = compose["x-rag-env"]
    assert set(env) <= set(ENV_VARS) and env["RAG_STORE"] == "qdrant"
    assert compose["services"]["api"]["environment"] == env == compose["services"]["ingest"]["environment"]
    assert env["RAG_QDRANT_URL"].startswith("http://qdrant:") and env["RAG_OPENAI_BASE_URL"].startswith("http://llm:")
    assert "api 8000" in (ROOT / "deploy" / "Caddyfile").read_text()


@pytest.mark.slow
@pytest.mark.timeout(1800)   # a full install: about 2 minutes on a quiet 2-core machine, 15 on a busy one
def test_install_script_in_a_fresh_venv_builds_a_kernel_that_loads_without_a_compiler(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc here: deploy/install.sh needs the C compiler the Dockerfile's build stage installs")
    env = {**os.environ, "RAG_CACHE_DIR": str(tmp_path / "cache"), "CC": gcc}
    env.pop("VIRTUAL_ENV", None)
    venv = tmp_path / "venv"
    subprocess.run(["sh", str(ROOT / "deploy" / "install.sh"), str(venv), "qdrant"], env=env, check=True,
                   cwd=tmp_path, timeout=1200)
    [library] = (tmp_path / "cache" / "native").glob("*.so")
    digest = hashlib.sha256(library.read_bytes()).hexdigest()
    runtime_env = {**env, "PATH": str(venv / "bin")}           # the runtime image: the venv, no compiler on PATH
    subprocess.run([str(venv / "bin" / "python"), "-c", LOAD], env=runtime_env, check=True, cwd=tmp_path, timeout=120)
    assert hashlib.sha256(library.read_bytes()).hexdigest() == digest      # loaded as shipped, not rebuilt
    probe = "import qdrant_client, rag, serve, ingest, eval; print(rag.__file__)"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], env=runtime_env, check=True, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120).stdout
    assert str(venv) in out                                     # installed into the venv, not the checkout
