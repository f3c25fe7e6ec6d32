"""A short form the notes never use ("BN", "UPenn") is searched and answered with the name a retrieved passage writes
out in full ("Batch Normalization", "University of Pennsylvania"), and a decade written short ("60s") as the notes write
it ("1960s"), instead of refused as a word the notes never mention or only mention."""
import pytest

# BOOSTING writes "60" too: the short "60s" stands for "1960s", not for a name of its own no note connects with it
BOOSTING = ("# Boosting\n\nGradient boosting fits each new tree to the residual errors of the ensemble, 60 trees at "
            "most.\n")
CASES = [
    ("# Batch Normalization\n\nBatch Normalization has a slight regularizing effect, as the mini-batch statistics add "
     "some noise to the activations.\n", "Where does the regularizing effect of BN come from?",
     {"BN": "Batch Normalization"}, "mini-batch statistics add some noise"),
    ("# Applications of GenAI\n\nThe University of Pennsylvania deployed a generative AI model to simulate the spread "
     "of COVID-19 and test different interventions.\n", "What was UPenn's generative AI model used for?",
     {"UPenn": "University of Pennsylvania"}, "simulate the spread of COVID-19"),
    ("# Autoencoders\n\nAn autoencoder is trained to reconstruct its input through a narrow code, so the encoder "
     "learns a compressed representation.\n", "How are AEs trained?", {"AEs": "autoencoder"},
     "trained to reconstruct its input"),
    ("# Vision\n\nA covnet learns local patterns such as edges in its first layers, and larger patterns in later "
     "layers.\n", "What does the first layer of a convnet learn?", {"convnet": "covnet"}, "local patterns"),
    ("# Classifiers\n\nk-nearest neighbors assigns a point the class most common among the k closest training "
     "points.\n", "How does k-nearest neighbours pick a class?", {"neighbours": "neighbors"}, "most common among"),
    ("# History of ML\n\n- 1960s - Decision Trees and Rule-Based Systems:\n  - Used in expert systems for medical "
     "diagnosis.\n- 1980s - Backpropagation:\n  - Multi-layer networks became trainable.\n",
     "What does my ML timeline put in the 60s, and where was it used?", {"60s": "1960s"}, "medical diagnosis"),
]


@pytest.mark.parametrize(("note", "question", "spelled", "quote"), CASES)
def test_the_chain_answers_a_short_form_the_notes_only_write_out(make_chain_for, note, question, spelled, quote):
    chain = make_chain_for({"dl.md": note, "trees.md": BOOSTING})
    answer = chain.answer(question)
    assert not answer.abstained
    assert answer.diagnostics["spelled_out"] == spelled
    assert quote in answer.answer
    assert "spelled_out" not in chain.answer("Where does the regularizing effect of KLD come from?").diagnostics


def test_a_short_form_the_notes_use_is_never_spelled_out_by_words_that_happen_to_fit(make_chain_for):
    chain = make_chain_for({"dl.md": "# Models\n\nWe compared GAN, VAE, BN and RNN models.\n\nNaive Bayes NOTE: this "
                                      "note is old and should be reviewed.\n", "trees.md": BOOSTING})
    answer = chain.answer("What is BN?")
    assert "spelled_out" not in answer.diagnostics   # "Bayes NOTE" is no name for the BN the notes write
    assert answer.abstained and "mention bn but do not explain it" in answer.answer
