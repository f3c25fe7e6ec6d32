"""Follow-ups: earlier turns -> a standalone question (pronouns, ordinals, ellipsis) and the previous answer's notes
as a retrieval prior. The conversations are made up for these rules, not taken from the eval sets."""
from __future__ import annotations

import pytest

from rag.answer.abstain import REFUSAL
from rag.answer.conversation import Exchange, Followup, parse_history, understand
from rag.answer.followup_search import search
from rag.answer.phrases import answer_entity, asks_for_entity, enumerations, question_subject
from rag.core.errors import ConfigError
from rag.core.types import Chunk, SearchResult


def turns(*pairs):
    return [{"question": q, "answer": a} for q, a in pairs]


@pytest.mark.parametrize("history, question, standalone", [
    # a pronoun stands for the subject of the previous question
    (turns(("What is gradient clipping?", "")), "Why does it help RNNs?", "Why does gradient clipping help RNNs?"),
    (turns(("What are residual connections?", "")), "How do they ease training?",
     "How do residual connections ease training?"),
    (turns(("What is weight decay?", "")), "What is its usual value?", "What is weight decay's usual value?"),
    # an object pronoun in the clause of the question's own subject still points back
    (turns(("What is label noise?", "")), "How does mixup deal with it?", "How does mixup deal with label noise?"),
    # a demonstrative before a noun, or ending its clause
    (turns(("What is Adam?", "")), "Is that optimizer used for transformers?",
     "Is the Adam optimizer used for transformers?"),
    (turns(("How does a convolutional layer process an image?", "")), "Why was pooling added on top of that?",
     "Why was pooling added on top of convolutional layer?"),
    # a pronoun that is the notes speaking ("do they recommend") is left alone; the next one points back
    (turns(("What is early stopping according to the lecture slides?", "")), "Which patience do they suggest for it?",
     "Which patience do they suggest for early stopping?"),
    # a subject written with commas ("Q,K,V") or a contraction ("what's") reads as one word, or none
    (turns(("What's the Q,K,V projection for?", "")), "How big is it?", "How big is Q,K,V projection?"),
    # ordinals name an item of a list in the previous question or answer
    (turns(("Which regularisers do my notes list?", "Dropout, weight decay and early stopping.")),
     "How does the second one work?", "How does the weight decay work?"),
    (turns(("Which optimizer families are there?", "Momentum methods, adaptive methods, and second-order methods.")),
     "What is the last family good at?", "What is the second-order methods good at?"),
    (turns(("In a VAE, what do the encoder and the decoder each output?", "")), "How is the former trained?",
     "How is the encoder trained?"),
    # "the other one" is the item of a pair (from any earlier turn, a relative clause left out) that the previous
    # question did not ask about; a bare item asks the previous question again about it
    (turns(("What are the two parts of a VAE?", "The encoder, which maps an input to a distribution, and the decoder, "
            "which maps a latent sample back."), ("What does the encoder output?", "A mean and a variance.")),
     "And the other one?", "What does the decoder output?"),
    (turns(("Which regularisers do my notes list?", "Dropout, weight decay and early stopping."),
           ("How does dropout work?", "It zeroes random units.")), "and the second one?",
     "How does weight decay work?"),
    # "which of them" after a question that set its subject beside another thing: both things
    (turns(("How do boosted trees build their trees compared to a random forest?", "")),
     "which of them is slower to train then?", "Which of boosted trees and random forest is slower to train then?"),
    # "which one" likewise, or the pair an earlier answer named
    (turns(("What's the difference between L1 and L2 regularization?", "")), "which one gives sparse weights?",
     "Which of L1 and L2 regularization gives sparse weights?"),
    (turns(("What are the two networks in a GAN?", "The generator and the discriminator.")),
     "which one is trained first?", "Which of generator and discriminator is trained first?"),
    # "that" after an auxiliary is a pronoun ("is that the same"), not a conjunction ("so that")
    (turns(("What is dropout?", "")), "Is that the same as weight decay?", "Is the dropout the same as weight decay?"),
    # a relational noun without its complement is of the subject
    (turns(("What is dropout?", "")), "What are the advantages?", "What are the advantages of dropout?"),
    (turns(("What is dropout?", "")), "what are the pros and cons?", "What are the pros and cons of dropout?"),
    # ellipsis reuses the previous standalone question
    (turns(("What is dropout?", "")), "What about weight decay?", "What is weight decay?"),
    (turns(("What is dropout?", "")), "And at test time?", "What is dropout at test time?"),
    (turns(("What is dropout?", "")), "Why?", "Why: What is dropout?"),
    (turns(("What is dropout?", "")), "And the drawbacks?", "What about the drawbacks of dropout?"),
    (turns(("What is dropout?", "")), "What about at test time?", "What is dropout at test time?"),
    # a condition puts the previous question under it
    (turns(("How does SGD converge?", "")), "And if I use a constant learning rate like everyone does?",
     "How does SGD converge if I use a constant learning rate like everyone does?"),
    (turns(("What does L2 regularization do?", "")), "what if the weights are already small",
     "What does L2 regularization do if the weights are already small?"),
    # a request that names nothing asks for more about the subject
    (turns(("What is dropout?", "")), "Can you give an example?", "Can you give an example about dropout?"),
    (turns(("What is dropout?", "")), "Explain in more detail", "Explain in more detail about dropout?"),
])
def test_follow_up_becomes_standalone(history, question, standalone):
    followup = understand(question, history)
    assert followup.standalone == standalone
    assert followup.rewritten and followup.how


@pytest.mark.parametrize("question", [
    "What is label smoothing and why does it help classifiers?",          # "it" refers inside the question
    "How does LightGBM grow its trees?",                                  # a possessive of the question's subject
    "Once a model is trained, how do you sample from it?",                # an earlier clause holds the referent
    "When words are mapped to a vocabulary, how large is that vocabulary?",
    "What does the first layer of a CNN learn?",                          # an ordinal with no list behind it
    "Which models that use attention exist?",                             # a relative "that"
    "Dropout?",                                                           # a bare phrase is a new question
    "If the data is small, which regulariser works best?",                # a condition with a question of its own
    "What is batch normalization?",
    "What's the formula for the Gini index?",                             # a relational noun with its complement
    "Should I stop early so that the model generalises?",                 # "so that" is a conjunction
])
def test_a_question_that_stands_alone_is_left_as_asked(question):
    history = turns(("Which regularisers do my notes list?", "Dropout, weight decay and early stopping."))
    followup = understand(question, history)
    assert followup.standalone == question and not followup.how


def test_subject_carries_across_turns():
    history = turns(("What is knowledge distillation?", "A small model learns from a large one."),
                    ("Where has it been used?", "In mobile models."))
    assert understand("What does it need?", history).standalone == "What does knowledge distillation need?"


def test_an_indefinite_phrase_does_not_take_over_the_subject():
    history = turns(("What are word vectors?", ""), ("How can a network learn them?", ""))
    assert understand("Are they reusable?", history).standalone == "Are word vectors reusable?"


def test_the_previous_answer_is_the_prior_and_markers_are_dropped():
    followup = understand("Why does it help?", turns(("What is EMA?", "A running average of weights [1].")))
    assert followup.prior == "A running average of weights ."
    assert followup.subject == "EMA"


def test_no_history_leaves_the_question_alone():
    followup = understand("  What is EMA?  ", [])
    assert followup == Followup("What is EMA?", "What is EMA?")


def test_known_phrases_cut_the_subject():
    known = {"batch normalization"}.__contains__
    assert question_subject("How does batch normalization layer deal with shift?", known) == \
        ("batch normalization", 9)
    assert question_subject("What does my ML summary say Proximal Policy Optimization is?")[0] == \
        "Proximal Policy Optimization"
    assert question_subject("What are GANs and VAEs?")[0] == "GANs and VAEs"


def test_a_note_name_is_no_subject_and_a_relational_head_points_at_its_topic():
    asked = "what's the basic idea behind autoencoders in my italian notes?"
    assert question_subject(asked) == ("autoencoders", asked.index("autoencoders"))
    assert question_subject("What is the purpose of dropout?")[0] == "dropout"
    assert question_subject("What is the formula for the Gini index?")[0] == "Gini index"
    assert question_subject("In the diffusion slides, what is the EMA network?")[0] == "EMA network"
    assert question_subject("In my Q,K,V attention note, what's the first step?")[0] == "Q,K,V attention"
    assert question_subject("What's the first step?")[0] == "step"   # no topic to point at
    followup = understand("and why do they divide those by something right after?",
                          [{"question": "In the diffusion slides, what is the EMA network?", "answer": "A copy."},
                           {"question": "Is it trained by backprop too?", "answer": "No."}])
    assert followup.subject == "EMA network"


@pytest.mark.parametrize("asked, answer, standalone", [
    ("In my Q,K,V attention note, what's the first step?",
     "Compute the dot product between each query and all the keys [1].",
     "Why divide the dot product by something right after?"),
    ("When sampling text from a model, how can you control how diverse the output is?",
     "By adding a temperature parameter that rescales the logits.",
     "Whats the catch if I crank temperature parameter way up"),
])
def test_a_question_that_asks_for_a_thing_hands_the_answers_thing_to_the_next_turn(asked, answer, standalone):
    follow = "why divide those by something right after?" if "step" in asked else "whats the catch if I crank it way up"
    followup = understand(follow, [{"question": asked, "answer": answer}])
    assert followup.standalone == standalone


def test_only_questions_that_ask_for_an_unnamed_thing_take_the_answers_subject():
    assert asks_for_entity("What's the first step?")
    assert asks_for_entity("how do you decide when to stop training?")
    assert not asks_for_entity("What's the basic idea behind autoencoders?")
    assert not asks_for_entity("How do I pick k in k-NN?")          # names its topic: k
    assert not asks_for_entity("How does dropout affect the training step?")
    assert answer_entity("**Dot product**: first, compute the dot product.") == "dot product"
    assert answer_entity("No determiner here.") is None
    followup = understand("Is it slow?", [{"question": "What's the first step?", "answer": ""}])
    assert followup.subject == "step"   # no answer to name a thing: the question's own subject
    refused = f"{REFUSAL} The closest notes are: a.md (Training)."
    assert understand("Is it slow?", [{"question": "What's the first step?", "answer": refused}]).subject == "step"


def test_enumerations():
    assert enumerations("GPT-like models, BERT-like models, and T5-like models.") == \
        [["GPT-like models", "BERT-like models", "T5-like models"]]
    assert enumerations("In a GAN, what do the generator and the discriminator do?") == \
        [["generator", "discriminator"]]
    assert enumerations("A single sentence without a list.") == []
    assert enumerations("A GAN is a battle between two adversaries, the generator and the discriminator.") == \
        [["generator", "discriminator"]]                                   # the count is no item
    assert enumerations("Consists of two networks, a generator and a discriminator, that are trained together.") == \
        [["generator", "discriminator"]]                                   # nor is a relative clause
    assert enumerations("Three regularisers, dropout and weight decay.") == \
        [["Three regularisers", "dropout", "weight decay"]]                # a count that does not match stays


@pytest.mark.parametrize("raw", ["not a list", [{"answer": "no question"}], [{"question": " ", "answer": ""}],
                                 [{"question": "q", "answer": 3}]])
def test_bad_history_is_a_clear_error(raw):
    with pytest.raises(ConfigError, match="history"):
        parse_history(raw)


def test_history_objects_and_exchanges_are_accepted():
    class Turn:
        question, answer = "What is EMA?", "An average."
    assert parse_history([Turn(), Exchange("Q?")]) == [Exchange("What is EMA?", "An average."), Exchange("Q?", "")]


class ScriptedRetriever:
    """search() returns fixed rankings per query: the follow-up's passages and the previous answer's."""

    def __init__(self, rankings):
        self.rankings = rankings
        self.calls = []

    def search(self, query, k=5, **options):
        self.calls.append((query, k, options))
        return self.rankings[query][:k]


def hit(source, n, score):
    chunk = Chunk(source, "", f"{source} passage {n}", 1, 1, 0, 10, chunk_id=f"{source}-{n}")
    return SearchResult(chunk, score)


def test_prior_wins_near_ties_only():
    ranking = [hit("other.md", 1, 0.0330), hit("other.md", 2, 0.0329), hit("gan.md", 1, 0.0325),
               hit("other.md", 3, 0.0200), hit("gan.md", 2, 0.0199), hit("gan.md", 3, 0.0100)]
    retriever = ScriptedRetriever({"How is the discriminator trained?": ranking,
                                   "The generator fools the discriminator.": [hit("gan.md", 9, 0.03)]})
    followup = Followup("How is the second one trained?", "How is the discriminator trained?", prior=
                        "The generator fools the discriminator.", how=["'the second one' -> 'discriminator'"])
    results = search(retriever, followup, k=4, mode="hybrid")
    ids = [r.chunk.chunk_id for r in results]
    assert ids == ["gan.md-1", "other.md-1", "other.md-2", "gan.md-2"]   # 0.0199 * 1.02 beats 0.0200
    assert "gan.md-3" not in ids                                          # 0.0100 stays out: not a near tie
    assert all(options == {"mode": "hybrid"} for _, _, options in retriever.calls)


def test_no_prior_without_a_rewrite():
    ranking = [hit("a.md", 1, 0.5), hit("b.md", 1, 0.4)]
    retriever = ScriptedRetriever({"What is EMA?": ranking})
    assert search(retriever, Followup("What is EMA?", "What is EMA?", prior="x"), k=2) == ranking
    assert len(retriever.calls) == 1
