"""The one text toolkit: sentence spans, words, stop words, stems and the whitespace normaliser."""
import re

from rag.core.text import content_terms, sentence_spans, squash, stem, word_parts, words
from rag.index.store.db import text_hash


def sentences(text, start=0, end=None):
    return [text[a:b] for a, b in sentence_spans(text, start, end)]


def test_sentences_end_at_punctuation_before_a_capital_digit_or_opening():
    assert sentences("EMA averages weights. It is smooth! Is it? 3 runs agree… (see below) done.") == [
        "EMA averages weights.", "It is smooth!", "Is it?", "3 runs agree…", "(see below) done."]
    assert sentences("no cut here. lower case follows") == ["no cut here. lower case follows"]


def test_abbreviations_and_initials_do_not_end_a_sentence():
    assert sentences("Smith et al. This holds.") == ["Smith et al. This holds."]
    assert sentences("(Ho et al. 2020) and U. S. Steel agree.") == ["(Ho et al. 2020) and U. S. Steel agree."]
    assert sentences("Find structure in the data. Eg. VAE.") == ["Find structure in the data.", "Eg. VAE."]
    assert sentences("Use a decay, e.g. 0.9999. See Fig. 3 and J. Smith.") == [
        "Use a decay, e.g. 0.9999.", "See Fig. 3 and J. Smith."]


def test_a_lower_case_variable_ends_a_sentence_and_a_product_sign_opens_none():
    assert sentences("Evaluate on partition i. The score is the mean.") == [
        "Evaluate on partition i.", "The score is the mean."]
    assert sentences("E[L] = Const. * (Variance + Bias). Done. *Emphasis* opens one.") == [
        "E[L] = Const. * (Variance + Bias).", "Done.", "*Emphasis* opens one."]


def test_math_code_and_wiki_links_are_never_cut():
    assert sentences("We set $x = 1. Y$ here. Then `a. B` and [[Note. Two]] stay. End.") == [
        "We set $x = 1. Y$ here.", "Then `a. B` and [[Note. Two]] stay.", "End."]


def test_a_capitalised_word_after_a_display_formula_opens_a_sentence():
    assert sentences("The Idea $$ f(x) = g(x). H $$ We simplified it. Then $$a$$For Bayes, $$ b $$ where b > 0.") == [
        "The Idea $$ f(x) = g(x). H $$", "We simplified it.", "Then $$a$$", "For Bayes, $$ b $$ where b > 0."]
    assert sentences("so \\[ x \\] Next one. And $$ Z $$ X = 1.") == ["so \\[ x \\]", "Next one.", "And $$ Z $$ X = 1."]


def test_closing_quotes_and_emphasis_stay_with_their_sentence():
    assert sentences('He said "stop." Then **bold.** Next (aside.) Last.') == [
        'He said "stop."', "Then **bold.**", "Next (aside.)", "Last."]


def test_spans_index_the_text_inside_a_range():
    text = "Skip this. First one here.  Second one.\nTail."
    start = text.index("First")
    spans = sentence_spans(text, start, text.index("\nTail"))
    assert [text[a:b] for a, b in spans] == ["First one here.", "Second one."]
    assert sentence_spans("   ") == []


def test_words_parts_and_content_terms():
    assert words("XGBoost's decay, e.g. 0.9999; don't") == ["XGBoost's", "decay", "e.g", "0.9999", "don't"]
    assert word_parts("XGBoost's decay 0.9999") == ["XGBoost", "s", "decay", "0", "9999"]
    text = "v1.2 isn't e.g. the model's 3.5x gain; it's U.S.-made"
    assert word_parts(text) == [p for w in words(text) for p in re.split(r"[.']", w)]  # parts are pieces of words
    assert content_terms("The models are updating their weights, e.g. slowly.") == {"model", "updat", "weight", "slow"}
    # a word with a clitic is a pronoun or an auxiliary; a possessive is its noun
    assert content_terms("What's it? Say I've finished: they're sure we'd won't, don't. The model's loss") == {
        "finish", "sur", "model", "loss"}
    assert stem("classes") == "class" and stem("studies") == "study" and stem("2024") == "2024"


def test_squash_is_the_form_hashes_are_taken_of():
    assert squash("  a\n\tb   c ") == "a b c"
    assert text_hash("a\n b") == text_hash("a b") == text_hash(squash(" a  b "))


def test_plain_drops_markdown_but_not_math():
    from rag.core.text import plain
    assert plain("- **Advancement:** SVMs were <mark>introduced</mark> as a *powerful* `tf.keras` tool.") == \
        "Advancement: SVMs were introduced as a powerful tf.keras tool."
    assert plain(r"The rule $w_{n+1} = w_{n} - \alpha_{n}$ uses snake_case and 2*3.") == \
        r"The rule $w_{n+1} = w_{n} - \alpha_{n}$ uses snake_case and 2*3."
