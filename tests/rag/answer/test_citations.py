"""Citation markers: parsing, dropping markers that point at nothing, rendering."""
from rag.answer.citations import Claim, parse_answer, parse_claim, render, split_answer


def test_split_keeps_markers_with_their_sentence():
    text = "EMA smooths weights [1]. It uses a decay of 0.9999 [2][3]. Samples use it."
    assert split_answer(text) == ["EMA smooths weights [1].", "It uses a decay of 0.9999 [2][3].", "Samples use it."]


def test_split_handles_marker_after_the_full_stop():
    assert split_answer("First one. [1] Second one [2].") == ["First one. [1]", "Second one [2]."]


def test_parse_claim_collects_numbers_and_cleans_text():
    claim = parse_claim("The EMA copy is updated every step [2, 1][2].")
    assert claim.text == "The EMA copy is updated every step."
    assert claim.cites == [2, 1]


def test_markers_pointing_at_nothing_are_dropped():
    claims = parse_answer("Batch norm scales features [7]. It shifts them [2]. [source 3] Extra [0].", n_evidence=3)
    assert [c.cites for c in claims] == [[], [2], []]
    assert claims[0].text == "Batch norm scales features."
    assert "source" not in " ".join(c.text for c in claims)


def test_render_puts_markers_before_final_punctuation():
    assert render([Claim("EMA smooths weights.", [1]), Claim("No cite here.", [])]) == \
        "EMA smooths weights [1]. No cite here."
    assert render([Claim("Trailing text", [1, 2])]) == "Trailing text [1][2]."
    assert render([Claim("- a bullet quote", [1]), Claim("Next one.", [2])]) == "- a bullet quote [1]. Next one [2]."


def test_parse_render_round_trip():
    text = "EMA smooths weights [1]. The decay is 0.9999 [2]."
    assert render(parse_answer(text, 2)) == text


def test_every_sentence_of_a_cited_quote_carries_the_marker():
    assert render([Claim("EMA keeps an average. It is used at sampling time", [1]), Claim("Second one.", [2])]) == \
        "EMA keeps an average [1]. It is used at sampling time [1]. Second one [2]."
