"""Chunker: structure, token limits, whole code/LaTeX blocks, and offsets that map back to the note."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ingest.chunking import chunk_note
from rag.core.settings import ChunkingSettings


def count(s: str) -> int:
    """Fake tokenizer: one word piece per whitespace word plus [CLS] and [SEP]."""
    return len(s.split()) + 2


def check_offsets(text: str, chunks) -> None:
    """Lines agree with char offsets, and the chunk's words (\\w+ runs) appear in order in its original span."""
    for c in chunks:
        assert 0 <= c.start_char < c.end_char <= len(text)
        assert c.start_line == text.count("\n", 0, c.start_char) + 1
        assert c.end_line == text.count("\n", 0, c.end_char - 1) + 1
        span, pos = text[c.start_char:c.end_char], 0
        for word in re.findall(r"\w+", c.text):
            found = span.find(word, pos)
            assert found >= 0, (word, c.text, span)
            pos = found + len(word)


def test_markdown_heading_paths_and_offsets():
    text = ("# Diffusion\n\nIntro to diffusion models and how they add noise step by step.\n\n"
            "## EMA weights\n\nThe EMA copy of the weights is updated after every step. It is used to sample.\n\n"
            "### Decay\n\nA decay of 0.9999 is common for large models trained for a long time.\n\n"
            "# GANs\n\nA generator and a discriminator play a minimax game against each other.\n")
    chunks = chunk_note("d.md", text, ChunkingSettings(max_tokens=30, min_tokens=5), count)
    assert [c.heading for c in chunks] == ["Diffusion", "Diffusion > EMA weights",
                                           "Diffusion > EMA weights > Decay", "GANs"]
    assert chunks[1].text == "The EMA copy of the weights is updated after every step. It is used to sample."
    assert chunks[1].start_line == chunks[1].end_line == 7 and all(c.source == "d.md" for c in chunks)
    check_offsets(text, chunks)


def test_plain_text_titles_become_headings():
    text = ("Batch Normalization\n\nBatch norm normalizes each feature over the mini-batch, then scales it.\n\n"
            "Denoising Steps:\n\n- Look over a fixed number of steps.\n\nEMA Network\n\n"
            "The EMA network is a secondary network whose parameters are an average of the weights.\n")
    chunks = chunk_note("n.txt", text, ChunkingSettings(max_tokens=25, min_tokens=3, overlap_sentences=0), count)
    assert [c.heading for c in chunks] == ["Batch Normalization", "EMA Network"]
    assert chunks[0].text.startswith("Batch norm") and "Denoising Steps:" in chunks[0].text
    assert "EMA Network" not in chunks[1].text


def test_small_sections_merge_and_long_ones_split_evenly():
    paragraph = " ".join(f"word{i}." for i in range(40))
    text = "# A\n\ntiny bit.\n\n# B\n\n" + "\n\n".join([paragraph] * 5) + "\n"
    chunks = chunk_note("m.md", text, ChunkingSettings(max_tokens=100, min_tokens=10), count)
    assert chunks[0].text.startswith("tiny bit.") and chunks[0].heading == "B"
    sizes = [count(c.text) for c in chunks]
    assert max(sizes) <= 100 and min(sizes) >= 40
    check_offsets(text, chunks)


def test_long_sentences_are_split_at_words_and_overlap_repeats_one_sentence():
    text = "Intro. " + " ".join(["verylong"] * 130) + ". Short end sentence here.\n"
    chunks = chunk_note("l.txt", text, ChunkingSettings(max_tokens=50, min_tokens=5, overlap_sentences=1), count)
    assert all(count(c.text) <= 50 for c in chunks) and len(chunks) >= 3
    check_offsets(text, chunks)


def test_code_block_kept_whole():
    code = "```python\n" + "\n".join(f"x{i} = f({i})  # step {i}" for i in range(8)) + "\n```"
    text = "Some intro text before the code.\n\n" + code + "\n\nAnd text after the code block.\n"
    chunks = chunk_note("c.md", text, ChunkingSettings(max_tokens=60, min_tokens=1), count)
    start = text.index("```")
    holders = [c for c in chunks if c.start_char <= start < c.end_char]
    assert len(holders) == 1 and holders[0].end_char >= start + len(code)
    assert "    " not in code or "x3 = f(3)  # step 3" in holders[0].text


def test_oversized_code_block_is_split_at_line_boundaries_into_own_chunks():
    body = [f"    value_{i} = compute(a, b, c, d)  # line {i}" for i in range(40)]
    code = "```python\n" + "\n".join(body) + "\n```"
    text = "Before the block there is prose.\n\n" + code + "\n\nAfter the block more prose.\n"
    chunks = chunk_note("big.md", text, ChunkingSettings(max_tokens=60, min_tokens=1), count)
    start, end = text.index("```"), text.rindex("```") + 3
    inside = [c for c in chunks if c.start_char < end and c.end_char > start]
    assert len(inside) >= 3
    for c in inside:
        assert start <= c.start_char and c.end_char <= end and count(c.text) <= 60
        assert text[c.start_char - 1] == "\n" and text[c.end_char] == "\n"   # whole lines
        assert "    value_" in c.text or c.text.startswith("```")          # indentation kept
    check_offsets(text, chunks)


def test_oversized_single_line_latex_is_split_at_words():
    math = "$$ " + " + ".join(f"a_{{{i}}}" for i in range(80)) + " $$"
    text = "Equation:\n\n" + math + "\n"
    chunks = chunk_note("eq.md", text, ChunkingSettings(max_tokens=40, min_tokens=1), count)
    assert all(count(c.text) <= 40 for c in chunks) and len(chunks) >= 4
    check_offsets(text, chunks)


@pytest.mark.parametrize("math", [
    "$$\nq(x_t | x_{t-1}) = N(x_t; sqrt(1 - b_t) x_{t-1}, b_t I)\n$$",
    "\\[\n\\text{Gini} = 1 - \\sum_i p_i^2 .\n\\]",
    "\\begin{equation}\nz = \\mu + \\sigma \\cdot \\epsilon .\nSo. It. Continues.\n\\end{equation}",
])
def test_latex_blocks_kept_whole(math):
    text = ("First sentence here. " * 6 + "\n\n" + math + "\n\n" + "Closing words follow. " * 6 + "\n")
    chunks = chunk_note("m.md", text, ChunkingSettings(max_tokens=30, min_tokens=1), count)
    start = text.index(math)
    holders = [c for c in chunks if c.start_char < start + len(math) and c.end_char > start]
    assert len(holders) == 1 and holders[0].start_char <= start and holders[0].end_char >= start + len(math)


def test_inline_display_math_inside_a_sentence_is_not_cut():
    text = ("The perceptron computes: $$ z = w^T x. Then b $$ and then a threshold. " * 8).strip() + "\n"
    chunks = chunk_note("p.txt", text, ChunkingSettings(max_tokens=40, min_tokens=1), count)
    for c in chunks:
        assert text[c.start_char:c.end_char].count("$$") % 2 == 0


def test_pages_from_loaded_note():
    text = "Page one text about attention.\n\nPage two text about EMA weights in diffusion.\n"
    second = text.index("Page two")
    chunks = chunk_note("p.pdf", text, ChunkingSettings(max_tokens=12, min_tokens=1), count,
                        pages=[(0, 1), (second, 2)])
    assert [c.page for c in chunks] == [1, 2]
    assert all(c.page is None for c in chunk_note("p.md", text, ChunkingSettings(max_tokens=12, min_tokens=1), count))


def test_obsidian_links_and_nbsp_in_chunk_text():
    text = "# Note\n\nSee [[Backprop|backpropagation]] and\u00a0[[Chain rule]].\n![[diagram.png]]\n"
    (chunk,) = chunk_note("o.md", text, ChunkingSettings(), count)
    assert chunk.text == "See backpropagation and Chain rule."
    assert text[chunk.start_char:chunk.end_char].startswith("See [[Backprop|")


def test_empty_and_heading_only_notes_give_no_chunks():
    assert chunk_note("e.md", "", ChunkingSettings(), count) == []
    assert chunk_note("h.md", "# Only a heading\n\n## And another\n", ChunkingSettings(), count) == []


# ---- property-based: random structured documents -------------------------------------------------

_WORD = st.sampled_from("alpha beta gamma delta eps zeta eta theta iota kappa lambda mu nu xi "
                        "omicron pi rho sigma tau upsilon phi chi psi omega".split())
_SENTENCE = st.lists(_WORD, min_size=5, max_size=14).map(lambda ws: " ".join(ws).capitalize() + ".")
_PARA = st.lists(_SENTENCE, min_size=1, max_size=6).map(" ".join)
_BULLETS = st.lists(_SENTENCE, min_size=2, max_size=5).map(lambda ss: "\n".join("- " + s for s in ss))
_CODE_LINE = st.lists(_WORD, min_size=1, max_size=8).map(lambda ws: "    " + " = ".join(ws))
_CODE = st.lists(_CODE_LINE, min_size=1, max_size=25).map(lambda ls: "```python\n" + "\n".join(ls) + "\n```")
_MATH = st.tuples(st.sampled_from([("$$", "$$"), ("\\[", "\\]"), ("\\begin{align}", "\\end{align}")]),
                  st.lists(_SENTENCE, min_size=1, max_size=12)).map(
                      lambda t: t[0][0] + "\n" + "\n".join(t[1]) + "\n" + t[0][1])
_HEADING = st.tuples(st.integers(1, 3), st.lists(_WORD, min_size=1, max_size=4)).map(
    lambda t: "#" * t[0] + " " + " ".join(t[1]).title())
_PART = st.one_of(st.tuples(st.just("para"), _PARA), st.tuples(st.just("para"), _BULLETS),
                  st.tuples(st.just("block"), _CODE), st.tuples(st.just("block"), _MATH),
                  st.tuples(st.just("heading"), _HEADING))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(_PART, min_size=1, max_size=14), max_tokens=st.integers(20, 90),
       min_tokens=st.integers(0, 15), overlap=st.integers(0, 2), sep=st.sampled_from(["\n\n", "\n\n\n"]))
def test_chunker_properties(parts, max_tokens, min_tokens, overlap, sep):
    text, blocks, paras = "", [], []
    for kind, body in parts:
        start = len(text)
        text += body + sep
        if kind == "block":
            blocks.append((start, start + len(body), body))
        elif kind == "para":
            paras.append((start, start + len(body)))
    settings = ChunkingSettings(max_tokens=max_tokens, min_tokens=min_tokens, overlap_sentences=overlap)
    chunks = chunk_note("doc.md", text, settings, count)

    assert all(count(c.text) <= max_tokens for c in chunks)
    check_offsets(text, chunks)
    for start, end, body in blocks:
        touching = [c for c in chunks if c.start_char < end and c.end_char > start]
        assert touching, body
        if count(body) <= max_tokens:     # fits: exactly one chunk holds it, whole
            assert len(touching) == 1
            assert touching[0].start_char <= start and touching[0].end_char >= end
        else:                             # oversize: its own chunks, cut at line ends
            for c in touching:
                assert start <= c.start_char and c.end_char <= end
    covered = sorted((c.start_char, c.end_char) for c in chunks)
    for start, end in paras:              # no prose is lost
        for m in re.finditer(r"\S+", text[start:end]):
            pos = start + m.start()
            assert any(a <= pos < b for a, b in covered), m.group()
    assert [c.start_char for c in chunks] == sorted(c.start_char for c in chunks)


@pytest.mark.slow
def test_real_tokenizer_limit_on_shared_notes(shared_notes):
    from transformers import AutoTokenizer

    from rag.core.resources import embedder_path

    tok = AutoTokenizer.from_pretrained(str(embedder_path()))
    real = lambda s: len(tok(s, add_special_tokens=True)["input_ids"])  # noqa: E731
    settings = ChunkingSettings()
    code = "```python\n" + "\n".join(f"    tensor_{i} = torch.nn.functional.softmax(logits_{i}, dim=-1)"
                                     for i in range(60)) + "\n```\n"
    sizes = []
    docs = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(shared_notes.glob("*.txt"))]
    for name, text in docs + [("code.md", "# Code\n\n" + code)]:
        chunks = chunk_note(name, text, settings, real)
        check_offsets(text, chunks)
        sizes += [real(c.text) for c in chunks]
    assert max(sizes) <= settings.max_tokens <= 256
    sizes.sort()
    assert 80 <= sizes[len(sizes) // 2] <= 200        # typical chunk: a passage, not a line
