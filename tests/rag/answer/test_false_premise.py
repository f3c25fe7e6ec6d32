"""False premises: an answer that accepts the premise is not passed through; the notes' version is cited instead."""
from __future__ import annotations

PREMISE = "Why are diffusion samples drawn from the raw weights instead of the EMA weights?"


def test_scripted_answer_accepting_a_false_premise_is_replaced_by_the_notes(make_chain, scripted):
    llm = scripted("Samples are drawn from the raw weights because the raw weights are sharper than the EMA [1].")
    ans = make_chain("local", llm=llm).answer(PREMISE)
    assert "sharper" not in ans.answer
    assert not ans.abstained
    quotes = " ".join(c.quote for c in ans.citations)
    assert "drawn from the EMA weights" in quotes  # what the notes actually say


def test_extractive_answer_to_a_false_premise_quotes_the_notes(make_chain):
    ans = make_chain("extractive").answer(PREMISE)
    assert not ans.abstained
    assert "drawn from the EMA weights" in " ".join(c.quote for c in ans.citations)


def test_premise_with_a_term_absent_from_the_notes_is_corrected_or_refused(make_chain, scripted):
    llm = scripted("Batch normalization uses a sigmoid gate over the mini-batch [1].")
    ans = make_chain("local", llm=llm).answer("Why does batch normalization use a sigmoid gate over the mini-batch?")
    if ans.abstained:   # the refusal may name what the notes lack, never assert it
        assert "never mention sigmoid" in ans.answer
    else:
        assert "sigmoid" not in ans.answer
        assert "normalizes each feature over the mini-batch" in " ".join(c.quote for c in ans.citations)


def test_the_chain_refuses_a_question_denying_what_the_notes_affirm(make_chain_for):
    chain = make_chain_for({"models.md": (
        "# Decision trees versus SVMs\n\n"
        "Decision trees are easy to interpret, and they do not require feature scaling.\n\n"
        "SVMs maximise the margin between the closest points of different classes. "
        "They require feature scaling for good performance.\n")})
    chain.gaps = None
    refused = chain.answer("Why do SVMs not need feature scaling?")
    assert refused.abstained and "They require feature scaling" in refused.answer
    answered = chain.answer("Why don't decision trees need feature scaling?")
    assert not answered.abstained and "do not require feature scaling" in answered.citations[0].quote
