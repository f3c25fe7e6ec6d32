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
