"""A short form the notes never use ("BN") is searched and answered with the name a retrieved passage writes out in
full ("Batch Normalization"), instead of refused as a word the notes never mention."""


def test_the_chain_answers_an_abbreviation_the_notes_only_write_out(make_chain_for):
    chain = make_chain_for({
        "dl.md": "# Batch Normalization\n\nBatch Normalization has a slight regularizing effect, as the mini-batch "
                 "statistics add some noise to the activations.\n",
        "trees.md": "# Boosting\n\nGradient boosting fits each new tree to the residual errors of the ensemble.\n"})
    answer = chain.answer("Where does the regularizing effect of BN come from?")
    assert not answer.abstained
    assert answer.diagnostics["spelled_out"] == {"BN": "Batch Normalization"}
    assert "mini-batch statistics add some noise" in answer.answer
    unknown = chain.answer("Where does the regularizing effect of KLD come from?")
    assert "spelled_out" not in unknown.diagnostics


def test_a_name_written_out_with_small_words_between_explains_its_short_form(make_chain_for):
    chain = make_chain_for({
        "apps.md": "# Applications of GenAI\n\nThe University of Pennsylvania deployed a generative AI model to "
                   "simulate the spread of COVID-19 and test different interventions.\n",
        "trees.md": "# Boosting\n\nGradient boosting fits each new tree to the residual errors of the ensemble.\n"})
    answer = chain.answer("What was UPenn's generative AI model used for?")
    assert not answer.abstained
    assert answer.diagnostics["spelled_out"] == {"UPenn": "University of Pennsylvania"}
    assert "simulate the spread of COVID-19" in answer.answer
