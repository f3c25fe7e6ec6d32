"""Abbreviations the notes define, found by the Schwartz-Hearst rule."""
from rag.answer.abbreviations import compounded, defined, is_short_form, spelled_out, with_long_forms
from rag.answer.vocabulary import Vocabulary


def test_long_form_then_short_form_in_parentheses():
    text = ("We then met Variational Autoencoders (VAE) and later Generative Adversarial Networks (GANs). "
            "Proximal Policy Optimization (PPO) came next.")
    found = defined(text)
    assert found["vae"] == "Variational Autoencoders"
    assert found["gan"] == "Generative Adversarial Networks"   # the plural s of the short form is not a letter
    assert "Optimization" in found["ppo"] and found["ppo"].startswith("P")


def test_short_form_then_long_form_in_parentheses():
    assert defined("The NLP (Natural Language Processing) field grew.") == {"nlp": "Natural Language Processing"}
    assert defined("BERT (Bidirectional Encoder Representations from Transformers) is an encoder.")["bert"] == (
        "Bidirectional Encoder Representations from Transformers")


def test_parentheses_that_do_not_spell_the_short_form_define_nothing():
    assert defined("We used the GPU (a big one) and a TPU (see below).") == {}
    assert defined("the loss (MSE) went down") == {}         # "the loss" holds no m, s, e in order from its start
    assert defined("a learning rate (LR) of 0.1") == {"lr": "learning rate"}
    assert defined("Tools (API) differ") == {}               # one word is no long form


def test_a_short_form_has_two_capitals():
    assert is_short_form("VAE") and is_short_form("ViT") and is_short_form("GANs")
    assert not is_short_form("Adam") and not is_short_form("the")


def test_the_vocabulary_keeps_the_first_definition_of_every_note():
    vocab = Vocabulary(["Variational Autoencoders (VAE) compress.", "Vector Arithmetic Engine (VAE) differs."])
    assert vocab.long_forms == {"vae": "Variational Autoencoders"}


def test_a_short_form_is_spelled_out_by_a_run_of_capitalised_words():
    text = "1. Improves Gradient Flow. Batch Normalization has a slight regularizing effect."
    assert spelled_out("BN", text) == "Batch Normalization"
    assert spelled_out("UPenn", "The University of Pennsylvania deployed a model.") == "University of Pennsylvania"
    assert spelled_out("ViT", "the Vision Transformer (2020)") == "Vision Transformer"
    assert spelled_out("GF", text) == "Gradient Flow"
    assert spelled_out("BN", "batch normalization helps") is None  # not written as a name
    assert spelled_out("KL", text) is None


def test_a_question_is_searched_with_the_long_forms_after_its_short_forms():
    assert with_long_forms("What advantages of BN are listed?", {"BN": "Batch Normalization"}) == (
        "What advantages of BN (Batch Normalization) are listed?")
    assert with_long_forms("What is BNN?", {"BN": "Batch Normalization"}) == "What is BNN?"   # whole words only


def test_a_short_form_is_spelled_out_by_one_compound_word_whose_later_pieces_the_notes_know():
    knows = {"encoder", "encoders", "flow", "propagation"}.__contains__
    assert compounded("AE", "An Autoencoder compresses; autoencoders too.", knows) == "Autoencoder"
    assert compounded("AEs", "the autoencoders", knows) == "autoencoders"
    assert compounded("TF", "TensorFlow runs the graph", knows) == "TensorFlow"
    assert compounded("BP", "backpropagation", knows) == "backpropagation"
    assert compounded("AE", "aerial views", knows) is None        # no known word where the E opens
    assert compounded("AE", "autoencoder", set().__contains__) is None
