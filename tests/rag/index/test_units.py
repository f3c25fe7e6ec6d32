"""Evidence units: sentences with offsets, logical lines, short titles merged, pronoun continuations joined."""
from rag.index.units import attach_anaphora, split_sentences


def spans_text(text):
    return [text[a:b] for a, b in split_sentences(text)]


def test_sentences_and_abbreviations():
    text = ("EMA keeps an average of weights, e.g. with decay 0.9999. Samples use the EMA copy! Is it smoother? "
            "Yes it is.")
    assert spans_text(text) == ["EMA keeps an average of weights, e.g. with decay 0.9999.", "Samples use the EMA copy!",
                                "Is it smoother?", "Yes it is."]


def test_bullets_break_and_wrapped_lines_join():
    text = "The list of steps that\nmatter most here:\n- first standardize the text\n- then tokenize it into units\n"
    assert spans_text(text) == ["The list of steps that\nmatter most here:", "- first standardize the text",
                                "- then tokenize it into units"]


def test_a_bullet_that_carries_on_a_line_cut_after_a_function_word_joins_it():
    text = ("- Number of nodes decreases with each layer of the encoder and increases with\n"
            "- each subsequent layer in the decoder.\n- reduce time taken for model inference\n"
            "- reduce file/model size\n")
    assert spans_text(text) == ["- Number of nodes decreases with each layer of the encoder and increases with\n"
                                "- each subsequent layer in the decoder.", "- reduce time taken for model inference",
                                "- reduce file/model size"]


def test_short_titles_merge_into_next_unit():
    text = "Stacking\n\nUses a meta-classifier to combine the model predictions."
    assert spans_text(text) == [text]


def test_offsets_index_the_chunk_text():
    text = "  First sentence here now.   Second sentence follows it.\n\n\nThird one is last here."
    for a, b in split_sentences(text):
        assert text[a:b] == text[a:b].strip() and text[a:b]


def test_pronoun_sentence_is_one_unit_with_its_referent():
    text = ("TensorFlow is an open source platform.\n- It can compute the gradient of any expression.\n"
            "- It runs on GPUs.")
    spans = attach_anaphora(text, split_sentences(text))
    assert [text[a:b] for a, b in spans] == [text]
    assert attach_anaphora("It starts here. Then more.", [(0, 15), (16, 26)]) == [(0, 15), (16, 26)]


def test_a_pronoun_among_the_first_words_joins_the_unit_before():
    text = ("Non-recurrent networks have no memory at all. Each input shown to them is processed independently. "
            "With such networks, a sequence must be shown at once. Recurrent networks keep a state between steps.")
    spans = attach_anaphora(text, split_sentences(text))
    assert [text[a:b] for a, b in spans] == [
        "Non-recurrent networks have no memory at all. Each input shown to them is processed independently. "
        "With such networks, a sequence must be shown at once.", "Recurrent networks keep a state between steps."]


def test_unit_kinds_and_the_label_a_list_line_sits_under():
    from rag.index.units import chunk_units
    text = ("4. **1980s - Support Vector Machines:**\n"
            "   - **Advancement:** SVMs were introduced for classification.\n\n"
            "9 min · Jane Doe\n\nParametric Modeling\n\nIn this note we will first talk about estimators.\n"
            "Given a set, the perceptron uses the following update rule (x): ...\n\n"
            "Method\tDefinition\tUse case\nPrompting\tCrafting prompts\tQuick guidance\n\nPlain prose closes it.")
    got = [(u.kind, u.context, text[u.start:u.end].split()[0]) for u in chunk_units(text)]
    assert got == [("item", "1980s - Support Vector Machines", "**Advancement:**"), ("byline", "", "9"),
                   ("intro", "", "Parametric"), ("truncated", "", "Given"), ("table", "", "Method"),
                   ("table", "", "Prompting"), ("prose", "", "Plain")]
    from rag.index.units import evidence_units
    assert [text[a:b].split()[0] for a, b in evidence_units(text)] == ["**Advancement:**", "Parametric", "Plain"]


NESTED = ("3. **Ensemble Methods**\n"
          "   - Combine predictions from several models to improve robustness.\n"
          "     1. Bagging (Bootstrap Aggregating)\n"
          "        - Improves stability by combining many models' predictions.\n"
          "        - Example: Random Forest\n"
          "     2. Boosting\n"
          "        - Sequentially applies weak classifiers to enhance performance.\n"
          "        - Examples:\n"
          "          1. AdaBoost\n"
          "          2. Gradient Boosting Machines (GBM)\n"
          "          3. XGBoost\n"
          "     3. Stacking\n"
          "        - Uses a meta-classifier to combine the model predictions.\n"
          "4. **Neural Networks**\n"
          "   - Deep learning stacks many layers that learn abstract features.\n")


def test_a_list_title_opens_its_first_line_and_list_lines_are_the_context_of_the_lines_under_them():
    from rag.index.units import chunk_units
    got = [(u.kind, u.context, " ".join(NESTED[u.start:u.end].split())) for u in chunk_units(NESTED)]
    ensemble = "Ensemble Methods > Combine predictions from several models to improve robustness."   # the lines above
    assert got == [
        ("item", "", "**Ensemble Methods** - Combine predictions from several models to improve robustness."),
        ("item", ensemble,
         "Bagging (Bootstrap Aggregating) - Improves stability by combining many models' predictions."),
        ("list", f"{ensemble} > Bagging (Bootstrap Aggregating)", "Example: Random Forest"),
        ("item", ensemble, "Boosting - Sequentially applies weak classifiers to enhance performance."),
        ("list", f"{ensemble} > Boosting > Examples", "AdaBoost 2. Gradient Boosting Machines (GBM) 3. XGBoost"),
        ("item", ensemble, "Stacking - Uses a meta-classifier to combine the model predictions."),
        ("item", "", "**Neural Networks** - Deep learning stacks many layers that learn abstract features.")]


def test_a_title_the_chunk_cut_from_its_lines_is_truncated_never_quoted():
    """A chunk ends on "5. Support Vector Machines (SVM)", whose line went to the next chunk: the item before it is a
    title with a line under it, so this one is a title too, cut off, not a list of names to quote. A list of names
    at the end of a chunk stays a list."""
    from rag.index.units import chunk_units
    cut = ("- These are used for classification.\n  4. k-Nearest Neighbors (kNN)\n    - Classifies data by the closest "
           "training examples.\n  5. Support Vector Machines (SVM)\n")
    assert [u.kind for u in chunk_units(cut)] == ["item", "item", "truncated"]
    assert not chunk_units(cut)[-1].quotable
    names = "Boosting examples:\n1. AdaBoost\n2. XGBoost\n"
    assert [u.kind for u in chunk_units(names)] == ["list"]


def test_a_stub_opens_what_a_flat_list_says_of_it_and_never_a_heading_or_another_level():
    flat = ("# Methods\n- Stacking\n- Uses a meta-classifier to combine predictions.\n- AdaBoost\n- XGBoost\n\n"
            "Prose here.")
    assert spans_text(flat) == ["# Methods", "- Stacking\n- Uses a meta-classifier to combine predictions.",
                                "- AdaBoost\n- XGBoost", "Prose here."]
    deeper = "- Boosting\n  - Examples:\n    - CatBoost\n- Stacking\n  - Uses a meta-classifier to combine predictions."
    assert spans_text(deeper)[-2:] == ["- CatBoost", "- Stacking\n  - Uses a meta-classifier to combine predictions."]


def test_a_run_of_stubs_is_a_list_of_names_and_names_no_line_after_it():
    """Two or more stubs in a row list names: the sentence after the run is a unit of its own, not the last name's
    description ("- DaX Express: Link" over "- Let's imagine a company ...")."""
    links = ("- Generative AI Model: Link\n- DaX Express: Link\n\n- Medical Imaging: Link\n\n"
             "- Let's imagine a company that wants to write product descriptions.\n")
    assert spans_text(links) == ["- Generative AI Model: Link\n- DaX Express: Link\n\n- Medical Imaging: Link",
                                 "- Let's imagine a company that wants to write product descriptions."]
    steps = "- Give Direction\n- Specify Format\n- Evaluate Quality\n- Divide into Small Chain of Tasks\n"
    assert spans_text(steps) == ["- Give Direction\n- Specify Format\n- Evaluate Quality",
                                 "- Divide into Small Chain of Tasks"]


def test_lines_of_a_list_a_label_announces_are_marked():
    from rag.index.units import chunk_units
    text = ("Two ways to learn word embeddings:\n\n  • Learn them jointly with the main task\n"
            "  • Load pretrained embeddings from another task.\n\nAfter the list comes prose.\n"
            "- Boosting\n  - Examples:\n    - AdaBoost\n    - XGBoost\n")
    got = [(u.announced, u.context, text[u.start:u.end].split()[0]) for u in chunk_units(text)]
    assert got == [(True, "Two ways to learn word embeddings", "Learn"),
                   (True, "Two ways to learn word embeddings", "Load"), (False, "", "After"),
                   (True, "Boosting > Examples", "AdaBoost")]


def test_a_unit_opening_with_the_note_speaking_of_itself_is_an_intro():
    from rag.index.units import chunk_units
    text = ("NOTE: this note should be reviewed after the NLP course. This is a very old note.\n\n"
            "I will be re-reading my jupyter-notebook notes from August.\n\n"
            "Deep learning systems are mostly neural networks. Much of this is covered in my review notes.")
    assert [u.kind for u in chunk_units(text)] == ["intro", "intro", "prose"]


def test_the_title_of_a_collapsible_html_section_is_a_heading_and_the_context_of_what_it_holds():
    from rag.index.units import chunk_units
    text = ("<details>\n<summary>   How can batch norm be demonstrated? </summary>\n<markdown>\n"
            "    Let's consider a simplified example to illustrate batch normalization mathematically.\n")
    units = chunk_units(text)
    assert [(u.kind, u.context) for u in units] == [("prose", "How can batch norm be demonstrated?")]
    assert text[units[0].start:units[0].end].startswith("Let's consider")
