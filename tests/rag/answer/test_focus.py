"""Mentioned or explained: enumerations, labels, cut-off units; terms that must occur together."""
from rag.answer.focus import explains, in_enumeration, mentions, unconnected, unexplained, uses_all
from rag.index.units import Unit, chunk_units


def test_mentions_match_inflections_and_compounds_in_order():
    assert mentions("The F1-score balances precision and recall", "f1-score")
    assert mentions("regularization of the weights", "regularized")
    assert not mentions("score of the F1 car", "f1-score")


def test_uses_all_finds_every_word_of_a_phrase_in_any_order_or_longer_form():
    assert uses_all("Normalization is applied to each batch", "batch norm")
    assert uses_all("the labels are smoothed before training", "label smoothing")
    assert not uses_all("Each label is one-hot encoded", "label smoothing")


def test_a_term_in_a_list_of_short_items_is_only_mentioned():
    text = "Keep an eye on metrics like accuracy, precision, recall, F1-score, etc., on both training and test data."
    assert in_enumeration(text, "f1-score")
    assert not in_enumeration("The F1-score is the harmonic mean of precision and recall.", "f1-score")
    assert in_enumeration("Using techniques like Xavier/Glorot initialization or He initialization can help.", "xavier")
    # the label before a spaced dash names the list, it is none of its items: the members explain it
    languages = "Programming language - python, r, sql and java for data analyses."
    assert not in_enumeration(languages, "programming language") and in_enumeration(languages, "sql")
    # an apposition is no list: the clause after it runs on past where a list item would end
    assert not in_enumeration("Navina, a medical AI startup, built a generative AI assistant that helps doctors tackle "
                              "administrative duties.", "navina")


def test_explaining_units_are_prose_or_list_lines_naming_the_term_or_listed_under_it():
    assert explains("The F1-score is the harmonic mean of precision and recall.", Unit(0, 1, "prose"), "f1-score")
    assert not explains("the perceptron uses the following update rule: ...", Unit(0, 1, "truncated"), "perceptron")
    assert explains("SVMs were introduced for classification.", Unit(0, 1, "item", "1980s - SVMs"), "1980s")
    units = [("metrics like accuracy, precision, recall, F1-score, etc.", Unit(0, 1, "prose")),
             ("Accuracy is the share of correct predictions.", Unit(0, 1, "prose"))]
    assert unexplained(["f1-score", "accuracy", "wasserstein"], units) == ["f1-score"]


def test_names_of_a_part_must_share_a_chunk_unless_one_is_nowhere():
    rows = {"google": {1}, "clip": {2, 3}, "openai": {2}, "2019": set()}.get
    assert unconnected([("google", "clip")], rows) == ["google + clip"]
    assert unconnected([("openai", "clip"), ("clip",), ("clip", "2019")], rows) == []


def test_a_name_no_retrieved_unit_mentions_is_not_explained_by_them():
    units = [("Pruning and a maximum depth regularize decision trees.", Unit(0, 1, "prose")),
             ("Gradient boosting fits each tree to the residuals.", Unit(0, 1, "item", "Gradient boosting"))]
    assert unexplained(["xgboost", "regularized"], units, names=["xgboost"]) == ["xgboost"]
    assert unexplained(["1-d", "gradient"], units, names=["1-d"]) == []   # too short to be looked for as written
    assert unexplained(["xgboost"], units) == []                         # not a name: the vocabulary rules decide


def test_an_abbreviation_the_notes_define_is_explained_by_its_long_form():
    units = [("Generative models: GANs, VAE, diffusion models.", Unit(0, 1, "prose")),
             ("Variational autoencoders assume no correlation between latent dimensions.", Unit(0, 1, "prose"))]
    assert unexplained(["vae"], units, names=["vae"]) == ["vae"]   # the list only mentions it
    assert unexplained(["vae"], units, names=["vae"], long_forms={"vae": "Variational Autoencoders"}) == []
    assert unexplained(["vaes"], units, long_forms={"vae": "Variational Autoencoders"}) == []   # plural short form
    assert unexplained(["gan"], units, long_forms={"vae": "Variational Autoencoders"}) == ["gan"]
    assert unexplained(["vaes"], units, names=["vaes"], long_forms={"vaes": "Variational Autoencoders"}) == []


def test_a_list_item_with_its_abbreviation_is_still_a_list_item():
    """"Gradient Boosting Machines (GBM)" is one item: XGBoost named after it is only listed, not explained."""
    text = "Examples include AdaBoost, Gradient Boosting Machines (GBM), and XGBoost, often used for classification."
    assert in_enumeration(text, "xgboost")
    assert not in_enumeration("XGBoost (extreme gradient boosting) adds a regularized objective.", "xgboost")



def test_list_names_explain_nothing_but_may_be_quoted():
    """A run of item names under a list title ("Examples:") is quotable but explains none of them; a line under the
    title "Stacking" explains stacking."""
    text = ("- Boosting\n  - Examples:\n    1. AdaBoost\n    2. Gradient Boosting Machines (GBM)\n    3. XGBoost\n"
            "- Stacking\n  - Uses a meta-classifier to combine the model predictions.\n"
            "  - The meta-model learns from held-out predictions.\n")
    units = chunk_units(text)
    names = next(u for u in units if "XGBoost" in text[u.start:u.end])
    assert names.kind == "list" and names.quotable and not explains(text[names.start:names.end], names, "xgboost")
    last = units[-1]
    assert last.context == "Stacking" and explains(text[last.start:last.end], last, "stacking")
