"""The chain's follow-up entry on the tiny corpus: history -> standalone question, retrieval, answer JSON."""


def test_follow_up_is_answered_as_its_standalone_question(make_chain):
    chain = make_chain("extractive")
    history = [{"question": "What is batch normalization?",
                "answer": "It normalizes each feature over the mini-batch."}]
    ans = chain.answer("What does it apply after normalizing?", history=history)
    d = ans.to_dict()
    assert d["question"] == "What does it apply after normalizing?"
    assert d["standalone_question"] == "What does batch normalization apply after normalizing?"
    assert not ans.abstained and ans.contexts[0].chunk.source == "batchnorm.txt"
    assert "gamma" in ans.answer


def test_same_question_without_history_has_no_standalone(make_chain):
    d = make_chain("extractive").answer("What does batch normalization apply after normalizing?").to_dict()
    assert "standalone_question" not in d


def test_streamed_follow_up_ends_with_the_same_answer(make_chain):
    history = [{"question": "What are GANs?", "answer": "A generator and a discriminator."}]
    events = list(make_chain("extractive").stream_events("What happens in mode collapse to them?", history=history))
    done = events[-1][1]
    assert events[-1][0] == "done" and done.standalone_question.startswith("What happens in mode collapse to GANs")
    assert "".join(v for k, v in events if k == "token") == done.answer


def test_unanswerable_follow_up_is_refused(make_chain):
    history = [{"question": "What is EMA in diffusion?", "answer": "An average of the weights."}]
    ans = make_chain("extractive").answer("Who won the football world cup in 1998 with it?", history=history)
    assert ans.abstained and ans.citations == []
