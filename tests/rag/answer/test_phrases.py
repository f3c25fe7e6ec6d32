"""What a question asks to define or what it asks a thing does, and whether a sentence says it."""
from rag.answer.phrases import asked_action, asked_count, asks_steps, defined_term, defines, does


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


def test_a_what_does_x_verb_part_is_answered_by_a_sentence_opening_with_x_verbs():
    assert asked_action("What exactly does the Gini index measure when a tree splits a node?") == \
        ("Gini index", "measure")
    assert asked_action("What does the encoder output for an input?") == ("encoder", "output")
    assert asked_action("What does dropout do?") is None                      # "do" says nothing of its own
    assert asked_action("What does each new tree in gradient boosting learn?") is None
    assert asked_action("What is the Gini index?") is None
    assert does("**What it Measures**: The Gini index measures the probability of a wrong label.", "Gini index",
                "measure")
    assert does("- The encoder outputs a code.", "encoder", "output")
    assert not does("The Gini index is a measure used in decision trees.", "Gini index", "measure")
    assert not does("Trees split on the Gini index, which measures impurity.", "Gini index", "measure")


def test_a_question_counts_what_it_asks_for_after_the_which_what_name_or_list():
    assert asked_count("Name the three advanced tricks for recurrent networks.") == 3
    assert asked_count("Which two losses does a VAE add?") == 2 and asked_count("What are the 4 steps?") == 4
    assert asked_count("What is EMA?") is None and asked_count("Why stack three layers?") is None


def test_a_question_asks_for_steps_only_when_it_asks_for_the_procedure():
    assert asks_steps("Walk me through one training step of the diffusion model.")
    assert asks_steps("How does scaled dot-product attention work, step by step?")
    assert asks_steps("What steps turn raw text into vectors?") and asks_steps("What are the stages of a RAG pipeline?")
    assert not asks_steps("What does q add to the image at each step, and what does it look like after all the steps?")
    assert not asks_steps("Which step sizes guarantee convergence?") and not asks_steps("What is a training step?")
