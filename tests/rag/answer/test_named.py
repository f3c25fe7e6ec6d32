"""A question that names a note by its title ("my autoencoder note") or by a section heading it holds ("the old Naive
Bayes note") is answered from that note; text exports are titled by the heading they open under."""
from rag.answer.named import named_note
from rag.core.notemeta import note_meta

TITLES = {"ae.txt": ["Autoencoders"], "review.txt": ["Review of Machine Learning / Deep Learning Notes: Part 2"],
          "genai.txt": ["What is Generative AI?"]}


def test_a_note_name_that_holds_every_word_of_a_title_names_that_note():
    assert named_note("What does my autoencoder note compare autoencoders to?", TITLES) == "ae.txt"
    assert named_note("What is the latent space in my Italian autoencoder write-up?", TITLES) == "ae.txt"
    assert named_note("In my generative AI slides, what is a prompt?", TITLES) == "genai.txt"
    # part of a title, no note name, or a title two notes share: no note is named
    assert named_note("What does my deep learning review say about dropout?", TITLES) is None
    assert named_note("What are autoencoders compared to?", TITLES) is None
    assert named_note("What does my autoencoder note say?", {**TITLES, "ae2.md": ["Autoencoders"]}) is None
    assert named_note("What does my 000 note say?", {"000_8ea1.txt": ["000_8ea1"]}) is None


def test_a_part_named_inside_a_note_the_asker_owns_does_not_name_a_note_of_its_own():
    question = "In the autoencoder slide of my generative AI deck, what do the two halves do?"
    assert named_note(question, TITLES) == "genai.txt"
    assert named_note("In the autoencoder slide, what do the two halves do?", TITLES) == "ae.txt"


def test_a_section_heading_names_the_note_that_holds_it_accents_aside():
    sections = {"ae.txt": ["Autoencoders", "Naïve Bayes"], "review.txt": ["Bayesian neural networks"]}
    assert named_note("What does Naive Bayes boil down to, according to the old Naive Bayes note?", sections) == \
        "ae.txt"
    assert named_note("What do my Bayesian notes say about priors?", sections) is None   # "neural networks" unnamed
    # the notes on a topic are not one note: a heading is named through the name of one note only
    assert named_note("What do my Naive Bayes notes say?", sections) == "ae.txt"
    assert named_note("What do my Naive Bayes notes say?", sections, singular=True) is None


def test_a_text_export_is_titled_by_the_heading_it_opens_under_after_front_matter_and_markdown_headings():
    assert note_meta("ae.txt", "Autoencoders\n\nL'idea ...\n", "Autoencoders").title == "Autoencoders"
    assert note_meta("ae.txt", "L'idea ...\n").title == "ae"
    assert note_meta("ae.md", "# Encoders\n\ntext\n", "Other").title == "Encoders"


def test_the_chain_answers_a_question_that_names_a_note_from_that_note(make_chain_for):
    chain = make_chain_for({
        "ae.txt": "Autoencoders\n\nL'autoencoder si valuta come un algoritmo di compressione: comprimere bene.\n",
        "review.txt": "Deep learning review\n\nAutoencoders are compared to principal component analysis, which "
                      "they generalise.\n"})
    assert chain.titles()["ae.txt"] == "Autoencoders"
    named = chain.answer("What does my autoencoder note compare autoencoders to?")
    assert named.diagnostics["named_note"] == "ae.txt"
    assert {c.chunk.source for c in named.contexts} == {"ae.txt"}
    plain = chain.answer("What are autoencoders compared to?")
    assert "named_note" not in plain.diagnostics and "review.txt" in {c.chunk.source for c in plain.contexts}


def test_the_chain_scopes_a_question_naming_a_section_heading_to_the_note_that_holds_it(make_chain_for):
    chain = make_chain_for({
        "ae.txt": "Autoencoders\n\nUn autoencoder comprime i dati.\n\nNaïve Bayes\n\nNaive Bayes predice la classe "
                  "vista più spesso in quello spazio.\n",
        "stats.txt": "Statistics\n\nNaive Bayes assumes features are independent given the class.\n"})
    named = chain.answer("What does Naive Bayes predict, according to my old Naive Bayes note?")
    assert named.diagnostics["named_note"] == "ae.txt"
    assert {c.chunk.source for c in named.contexts} == {"ae.txt"}
