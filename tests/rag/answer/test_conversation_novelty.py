"""A follow-up asks for something new: what the earlier turns said ranks lower, the words the follow-up adds rank
higher (and bring in the passage that holds them), later parts keep the referent, and notes that only repeat the
conversation about the referent are a refusal. Conversations and notes are made up for these rules."""
from __future__ import annotations

from rag.answer.conversation import REPEAT_PENALTY, Followup, anchored_parts, understand
from rag.answer.followup_search import REPEATED, evidence_penalty, nothing_new, search
from rag.core.types import Chunk, SearchResult
from rag.index.units import Unit

DROPOUT = [{"question": "What is dropout?",
            "answer": "Dropout randomly zeroes a fraction of the activations during training [1]."}]


def test_understand_keeps_the_referent_and_what_was_said():
    f = understand("What does it do at test time?", DROPOUT)
    assert f.standalone == "What does dropout do at test time?" and f.referent == "dropout"
    assert {"dropout", "activation", "train"} <= f.said            # stems of the earlier question and answer
    assert f.new_terms == {"test", "tim"}                           # what the follow-up adds
    assert understand("What is dropout?", []).referent is None
    assert understand("And at test time?", DROPOUT).referent is None   # an ellipsis inserts no referent


def test_penalty_ranks_repeats_down_and_the_new_words_up():
    f = understand("What does it do at test time?", DROPOUT)
    repeat = "Dropout zeroes a random fraction of the activations during training."
    aspect = "At test time dropout is switched off and the activations are scaled."
    unrelated = "Batch normalization standardizes each feature over the mini-batch."
    assert f.repeats(repeat) >= REPEATED and f.repeats(aspect) < REPEATED
    assert f.penalty(repeat) == REPEAT_PENALTY * (f.repeats(repeat) - 0.5) * 2 > 0
    assert f.penalty(aspect) < 0 == f.penalty(unrelated) == f.penalty(aspect, on_topic=False)   # no gain elsewhere


def test_evidence_penalty_gives_the_new_words_weight_only_in_passages_about_the_referent():
    f = understand("What does it do at test time?", DROPOUT)
    about = passage("dl.md", (10, 12), "Dropout is a regularization technique.", 0.03)
    continued = passage("dl.md", (13, 14), "At test time all units are kept.", 0.02)
    elsewhere = passage("eval.md", (1, 2), "At test time the model is evaluated.", 0.02)
    penalty = evidence_penalty(f, [about, continued, elsewhere])
    assert penalty("At test time all units are kept.", continued) < 0
    assert penalty("At test time the model is evaluated.", elsewhere) == 0


def test_later_parts_are_anchored_to_the_referent():
    parts = ("What does retrieval augmented generation require", "what's the catch?")
    assert anchored_parts(parts, "retrieval augmented generation") == (
        parts[0], "what's the catch of retrieval augmented generation?")
    assert anchored_parts(("What are LoRA adapters called", "how do they work?"), "LoRA adapters")[1] == \
        "how do LoRA adapters work?"
    assert anchored_parts(parts, None) == parts
    own = ("What does it cost", "how does XGBoost compare?")
    assert anchored_parts(own, "gradient boosting", ("xgboost",)) == own       # a part with a subject of its own
    assert anchored_parts(own, "gradient boosting")[1] == "how does XGBoost compare of gradient boosting?"
    assert anchored_parts(("Why does it help, and what does dropout cost?",), "dropout") == \
        ("Why does it help, and what does dropout cost?",)


def units(*texts_kinds):
    return [(text, Unit(0, len(text), kind, context)) for text, kind, context in texts_kinds]


def test_nothing_new_when_every_passage_about_the_referent_repeats_the_conversation():
    history = [{"question": "What is Proximal Policy Optimization?",
                "answer": "An algorithm that improves the stability and reliability of policy gradient approaches."}]
    f = understand("How does it achieve that?", history)
    assert f.referent == "Proximal Policy Optimization"
    title = ("Proximal Policy Optimization (PPO)", "item", "")
    listed = ("An algorithm that improves the stability and reliability of policy gradient approaches.", "item",
              "Proximal Policy Optimization (PPO)")
    explained = ("Proximal Policy Optimization clips the probability ratio so that one update cannot move the "
                 "policy far.", "prose", "")
    assert nothing_new(f, units(title, listed, ("Deep Q-Networks learn a Q-function.", "item", "")))
    assert not nothing_new(f, units(title, listed, explained))
    assert not nothing_new(f, units(("Deep Q-Networks learn a Q-function.", "item", "")))   # nothing names it
    assert not nothing_new(Followup("q", "q"), units(title, listed))                        # no referent
    again = understand("What does it improve?", history)              # adds no word: asked again, answered again
    assert again.new_terms == set() and not nothing_new(again, units(title, listed))
    achieves = ("An algorithm that improves the stability of policy gradient approaches, which it achieves by "
                "clipping.", "item", "Proximal Policy Optimization (PPO)")   # repeats, but holds the new word
    assert not nothing_new(f, units(title, achieves))
    assert nothing_new(f, units(title, listed), focus=("proximal", "policy", "optimization"))
    assert not nothing_new(f, units(title, listed), focus=("proximal", "trpo"))   # asks about TRPO too


class ScriptedRetriever:
    def __init__(self, rankings):
        self.rankings = rankings

    def search(self, query, k=5, **options):
        return self.rankings.get(query, [])[:k]


def passage(source, lines, text, score):
    chunk = Chunk(source, "", text, lines[0], lines[1], 0, len(text), chunk_id=f"{source}:{lines[0]}")
    return SearchResult(chunk, score)


def test_a_passage_with_the_new_words_comes_in_when_it_continues_the_subject():
    f = understand("What does it do at test time?", DROPOUT)
    top = [passage("dl.md", (10, 12), "Dropout is a regularization technique for neural networks.", 0.033),
           passage("dl.md", (40, 41), "Dropout was proposed to fight co-adaptation.", 0.032),
           passage("opt.md", (5, 6), "Weight decay shrinks the weights.", 0.031)]
    continuation = passage("dl.md", (13, 15), "At test time all units are kept and scaled.", 0.020)
    off_topic = passage("eval.md", (1, 2), "At test time the model is evaluated on held-out data.", 0.025)
    retriever = ScriptedRetriever({f.standalone: top + [off_topic, continuation]})
    ids = [r.chunk.chunk_id for r in search(retriever, f, k=3)]
    assert "dl.md:13" in ids and "eval.md:1" not in ids and len(ids) == 3
    assert "opt.md:5" not in ids                                  # the weakest passage without the new words left


def test_chain_refuses_a_follow_up_the_notes_only_repeat(make_chain_for):
    chain = make_chain_for({"rl.md": "# Policy methods\n\n- Proximal Policy Optimization (PPO)\n"
                                     "  - An algorithm that improves the stability and reliability of policy gradient "
                                     "approaches.\n- Deep Q-Networks (DQN)\n  - A value-based method that learns a "
                                     "Q-function with a replay buffer and a target network.\n",
                            "dropout.md": "# Dropout\n\nDropout is a regularization technique that randomly zeroes a "
                                          "fraction of the activations during training. It keeps units from "
                                          "co-adapting and so reduces overfitting. At test time dropout is switched "
                                          "off and the activations are scaled by the keep probability.\n"})
    chain.gaps = None
    history = [{"question": "What is Proximal Policy Optimization?",
                "answer": "An algorithm that improves the stability and reliability of policy gradient approaches."}]
    refused = chain.answer("How does it achieve that?", history=history)
    assert refused.abstained and refused.diagnostics["abstain_reason"].startswith("the notes only repeat")
    assert "nothing more about Proximal Policy Optimization" in refused.answer
    answered = chain.answer("What happens to it at test time?", history=DROPOUT)
    assert not answered.abstained and "switched off" in answered.citations[0].quote


def test_a_singular_pronoun_does_not_stand_for_a_plural_phrase_of_its_own_question():
    history = [{"question": "What is overfitting?", "answer": "Fitting noise in the training data."}]
    assert understand("How can learning curves or cross-validation reveal it?", history).standalone == \
        "How can learning curves or cross-validation reveal overfitting?"
    assert understand("What is label smoothing and why does it help?", history).standalone == \
        "What is label smoothing and why does it help?"
