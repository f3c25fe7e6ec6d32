"""What a question asks to define, and whether a sentence defines it."""
from rag.answer.phrases import defined_term, defines


def test_the_term_a_what_is_question_asks_to_define():
    assert defined_term("What is covariate shift?") == "covariate shift"
    assert defined_term("In diffusion model training, what is the EMA network",
                        "In diffusion model training") == "EMA network"
    assert defined_term("what is EMA in diffusion") == "EMA"
    assert defined_term("How does dropout work?") is None
    assert defined_term("What is the?") is None


def test_a_sentence_defines_a_term_only_where_it_opens_with_it():
    assert defines("The EMA network is a secondary network.", "EMA network")
    assert defines("**Latent Space**: the encoding of the input.", "latent space")
    assert defines("- Autoencoders (AEs) are networks that copy their input.", "autoencoder")
    assert defines("RAG refers to retrieval-augmented generation.", "RAG")
    assert not defines("While the EMA network is trained, sampling uses it.", "EMA network")
    assert not defines("The EMA network weights are updated after each step.", "EMA network")
    assert not defines("EMAs are everywhere.", "EMA network")
