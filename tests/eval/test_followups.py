"""The follow-up section of the report: the same questions graded with and without their earlier turns."""
from eval.runner import followup_summary


def row(qid, answerable, abstained, kw, hit, correct, standalone=None):
    out = {"id": qid, "type": "follow-up" if answerable else "follow-up-unanswerable", "question": f"{qid}?",
           "answerable": answerable, "abstained": abstained, "keyword_recall": kw if answerable else None,
           "grounding": {"support_hit": hit}, "correct": correct}
    return {**out, "standalone_question": standalone} if standalone else out


def test_followup_summary_sides():
    with_history = [row("f1", True, False, 1.0, True, True, "Why does EMA help?"),
                    row("f2", True, False, 0.5, False, False, "How is the discriminator trained?"),
                    row("f3", False, True, None, False, True, "How does PPO achieve that?")]
    alone = [row("f1", True, True, 0.0, False, False), row("f2", True, False, 0.5, True, True),
             row("f3", False, False, None, False, False)]
    summary = followup_summary(with_history, alone)
    assert summary["n"] == 3 and summary["n_unanswerable"] == 1
    assert summary["with_history"] == {"keyword_recall": 0.75, "support_hit_rate": 0.5, "unanswerable_refused": 1.0,
                                       "false_abstain_rate": 0.0, "accuracy": 2 / 3}
    assert summary["without_history"]["keyword_recall"] == 0.25
    assert summary["without_history"]["unanswerable_refused"] == 0.0
    assert summary["without_history"]["false_abstain_rate"] == 0.5
    first = summary["per_question"][0]
    assert first["standalone_question"] == "Why does EMA help?"
    assert first["with_history"] == {"abstained": False, "keyword_recall": 1.0, "correct": True, "support_hit": True}
    assert first["without_history"]["abstained"] is True
