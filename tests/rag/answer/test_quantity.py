"""A "how many / how much" or "what X value" question is answered only where some retrieved sentence gives a number of
what it counts, and a question for a default only where one speaks of that default; a why question presumes the numbers
it states."""
import pytest

from rag.answer.quantity import (
    STATED_VALUE,
    counted,
    is_value,
    numbers,
    stated_value,
    uncounted,
    undefaulted,
    unwritten,
)


def test_the_thing_counted_is_read_and_questions_with_numbers_of_their_own_are_not_checked():
    assert counted("According to the slides, how many training tokens was GPT-4 trained on?") == "training tokens"
    assert counted("How much memory does the KV cache use?") == "memory"
    assert counted("How many layers?") == "layers"
    # "how much" before a verb asks a degree, which words can answer ("there is a slight loss")
    assert counted("Once the code is small, how much gets lost in reconstruction?") is None
    assert counted("How much bias does dropout add?") == "bias"
    assert counted("What is the default number of leaves per tree in LightGBM?") == "leaves"
    assert counted("How does DDIM cut the number of sampling steps?") is None
    assert counted("If I run 5-fold cross-validation on 1000 samples, how many train/test runs happen?") is None
    assert counted("With 10,000 examples and batches of 64, how many iterations make up one epoch?") is None
    assert counted("What is GPT-4?") is None
    assert counted("What offset value does the offset cosine scheduler use?") == "offset value"   # a measure, too
    assert counted("What hallucination rate is listed for GPT-3?") == "hallucination rate"
    assert counted("What value does gen AI bring to retailers?") is None   # a worth, not a named measure
    assert counted("What starting and ending beta values does the schedule use?") == "starting and ending beta values"
    assert counted("What is the learning rate of the discriminator?") is None   # may ask what it is
    assert counted("What does the learning rate set?") is None                   # or what it does
    assert counted("What settings does the learning rate schedule take?") is None


def test_a_count_is_given_only_by_a_number_beside_the_thing_counted():
    question = "How many parameters does the model have?"
    assert uncounted(question, [("It has 175 billion parameters.", "")]) is None
    assert uncounted(question, [("It has 175B parameters.", "")]) is None
    assert uncounted(question, [("Three parameters matter most.", "")]) is None
    assert uncounted(question, [("It is large.", ""), ("It has 12 layers.", "")]) == "parameters"
    assert uncounted("How many approaches to ML are there?", [("Supervised learning", "Approaches to ML")]) is None
    offset = "What offset value does the scheduler use?"
    assert uncounted(offset, [("An offset is introduced in the cosine function.", "")]) == "offset value"
    assert uncounted(offset, [("The scheduler uses an offset value of 0.008.", "")]) is None


def test_a_count_of_something_named_must_be_given_for_it():
    question = "How many tokens was GPT-4 trained on?"
    assert uncounted(question, [("Nuance put GPT-4 into its software.", "")], ["gpt-4"]) == "tokens"
    assert uncounted(question, [("GPT-3 saw 300B tokens.", "")], ["gpt-4"]) == "tokens"
    assert uncounted(question, [("It saw 13 trillion tokens.", "LLMs GPT-4")], ["gpt-4"]) is None   # under its heading


def test_a_default_is_given_only_by_a_passage_that_speaks_of_that_default():
    question = "What's the default value Keras uses for patience?"
    example = ("Let's say we set the patience value to 5.", "Patience")
    other = ("TensorFlow serves as Keras's default and primary backend.", "Keras")
    assert undefaulted(question, [example, other]) == "default value"
    assert undefaulted(question, [("By default, Keras uses a patience of 0.", "")]) is None
    assert undefaulted("What is Keras's default backend?", [other]) is None
    assert undefaulted("What patience value should I use?", [example]) is None   # asks no default


def test_a_stated_value_is_its_number_with_its_magnitude():
    text = "400 million pairs, 400M, 1,000 steps, 0.8, 175B and 3 thousand; not GPT-4, beta1, 10x, 3D or v0.2.5"
    assert [stated_value(m) for m in STATED_VALUE.finditer(text)] == [
        "400000000", "400000000", "1000", "0.8", "175000000000", "3000"]


def test_a_why_question_presumes_the_numbers_of_its_why_clause():
    written = numbers("The dropout rate is usually set between 0.2-0.5; with 1,000 samples and GPT-4 ...")
    assert written == {"0.2", "0.5", "1000", "4"}
    assert unwritten("Why does my review recommend a dropout rate of around 0.8?", written) == ["0.8"]
    assert unwritten("Why is the dropout rate set between 0.2 and 0.5?", written) == []
    assert unwritten("Why do my notes use 1,000 samples?", written) == []
    assert unwritten("With 64 samples per batch, why do my notes use 1000 samples?", written) == []   # the asker's
    assert unwritten("What dropout rate should I use, 0.8?", written) == []                            # no why
    assert unwritten("Why is GPT-5 better than GPT-4?", written) == []            # a name's number is no value
    assert unwritten("Why no ratio, e.g. 10x? Why 12 layers?", written) == ["12"]   # after "e.g." an example


CHAIN_CASES = [   # (notes, refused question, what its refusal says, answered question, what its first quote holds)
    ({"llms.md": "# Large language models\n\nGPT-3 has 175 billion parameters and was trained on 300 billion tokens."
                 "\n\nGPT-4 is used in clinical transcription software and in many chat assistants.\n"},
     "How many training tokens was GPT-4 trained on?", "no number of training tokens",
     "How many parameters does GPT-3 have?", "175 billion parameters"),
    ({"training.md": "# Early stopping\n\nPatience is the number of epochs to wait for the validation loss to "
                     "improve before stopping. Let's say we set the patience value to 5: training stops after 5 "
                     "epochs without improvement.\n",
      "keras.md": "# Keras\n\nSince TensorFlow 2.0, TensorFlow is the default and primary backend of Keras.\n"},
     "What's the default patience value that Keras uses for early stopping?", "no default",
     "What is the default backend of Keras?", "default and primary backend"),
    ({"dropout.md": "# Dropout\n\nThe dropout rate is the fraction of the features that are zeroed out, usually set "
                    "between 0.2 and 0.5, because a higher rate removes too much of the signal.\n"},
     "Why does my review recommend a dropout rate of around 0.8?", "never write 0.8",
     "Why is the dropout rate usually set between 0.2 and 0.5?", "between 0.2 and 0.5"),
]


@pytest.mark.parametrize(("notes", "refused_question", "finding", "answered_question", "quote"), CHAIN_CASES,
                         ids=["count", "default", "unwritten-number"])
def test_the_chain_refuses_a_count_a_default_or_a_number_its_notes_never_give(
        make_chain_for, notes, refused_question, finding, answered_question, quote):
    chain = make_chain_for(notes)
    chain.gaps = None
    refused = chain.answer(refused_question)
    assert refused.abstained and finding in refused.answer
    answered = chain.answer(answered_question)
    assert not answered.abstained and quote in answered.citations[0].quote


def test_values_are_numbers_number_words_and_numbers_measuring_a_word_but_not_years_or_names():
    assert is_value("1.5") and is_value("10x") and is_value("five") and is_value("4-sample") and is_value("4-bit")
    assert is_value("28x28") and is_value("3x3")   # a size, written as a product
    assert not is_value("2019") and not is_value("1980s") and not is_value("GPT-4") and not is_value("F1")
    assert not is_value("one-hot") and not is_value("fiver")
