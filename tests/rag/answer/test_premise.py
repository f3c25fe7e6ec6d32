"""A false premise by one swapped word: the best evidence says "a x c" where the question asks about "a b c"."""
from rag.answer.premise import swapped

TERMS = {"mean squared error", "mean absolute error"}.__contains__   # the notes' terms

ASKED = "Why does the training loop use mean squared error between the predicted and the true noise?"
SAID = "We then calculate the loss (mean absolute error) between the predicted noise and the true noise."


def test_a_swapped_word_in_the_best_sentence_contradicts_the_question():
    assert swapped(ASKED, SAID, [SAID], TERMS) == ("mean squared error", "mean absolute error")


def test_no_contradiction_when_the_note_also_says_what_was_asked():
    assert swapped(ASKED, SAID, [SAID, "Some runs use the mean squared error instead."], TERMS) is None


def test_a_sentence_about_something_else_contradicts_nothing():
    other = "The mean absolute error of a regressor is easy to read."   # shares no other word of the question
    assert swapped(ASKED, other, [other], TERMS) is None
    assert swapped("What loss is computed between the predicted and the true noise?", SAID, [SAID], TERMS) is None


def test_a_paraphrase_the_notes_never_use_as_a_term_contradicts_nothing():
    said = "We do not pass it all the way back to the original input data."
    assert swapped("Is the error pushed all the way back to the raw input data?", said, [said], TERMS) is None
