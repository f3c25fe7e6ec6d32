"""A false premise by one swapped word (the best evidence says "a x c" where the question asks about "a b c"), or by
polarity (the evidence affirms what the question denies), by another name, or by degree (the evidence puts the other
pole of a degree word on the same things)."""
from rag.answer.premise import opposed, presumes, reassigned, renumbered, reversed_degree, swapped

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


SVMS = "Why are SVMs described as non-parametric models that don't need feature scaling?"


def test_evidence_affirming_what_the_question_denies_opposes_it():
    assert opposed(SVMS, "SVMs aim to maximize the margin. - They require feature scaling for optimal performance.") \
        == {"featur", "scal"}
    assert opposed(SVMS, "SVMs are parametric, and choosing the right kernel is crucial.") == {"parametric"}
    assert opposed("Why are decision trees parametric?", "Decision trees are non-parametric models.") == {"parametric"}


def test_no_opposition_where_the_evidence_takes_the_question_side_or_answers_it():
    said = "SVMs require feature scaling for optimal performance."
    assert opposed(SVMS, said, ["Linear SVMs do not require feature scaling."]) is None   # the notes deny it too
    assert opposed(SVMS, said, ["Decision trees do not require feature scaling."]) == {"featur", "scal"}  # not SVMs
    assert opposed("What does dropout do at test time?", "Dropout is not applied at test time.") is None
    assert opposed("Why can't a perceptron learn XOR?", "A single perceptron cannot learn XOR.") is None
    assert opposed("Why do SVMs not need feature scaling?", "SVMs don\u2019t need feature scaling.") is None
    # "non-recurrent" names another kind of network; it says nothing against recurrent ones
    assert opposed("Name three tricks for recurrent networks.", "Non-recurrent networks are feedforward.") is None
    assert opposed("Which tricks help recurrent networks?", "A trait of non-recurrent networks is no memory.") is None


def test_evidence_denying_what_a_why_question_presumes_opposes_it():
    trees = "Decision trees are easy to interpret, and they do not require feature scaling."
    why = "Why does my ML summary say decision trees need feature scaling but SVMs don't?"
    assert opposed(why, trees) == {"featur", "scal"}
    assert opposed(why, trees, ["SVMs aim to maximize the margin. - They require feature scaling."]) == {
        "featur", "scal"}   # said of SVMs, not of decision trees
    assert opposed(why, trees, ["Deep decision trees require feature scaling."]) is None   # the notes say both
    assert opposed("What do decision trees require, feature scaling?", trees) is None      # asks, presumes nothing


def test_a_denial_reaches_the_alternatives_it_lists_and_a_sentence_on_a_kindred_subject_leaves_it_standing():
    deterministic = "Deterministic models do not account for uncertainty or randomness; they make one prediction."
    why = "Why do my slides say deterministic models are the ones that capture uncertainty and randomness?"
    probabilistic = "Probabilistic models account for uncertainty and randomness."
    assert opposed(why, deterministic, [probabilistic]) == {"uncertainty", "randomness"}   # said of other models
    assert opposed(why, "Deterministic models do not account for uncertainty, but randomness matters.") is None
    # a denial reaches the next content words of its clause, however many function words stand between
    vae = "The encoder maps each input to a mean and a variance and does not need to worry about covariance."
    assert opposed("Why does my review have the VAE encoder worry about covariance?", vae) == {"worry", "covarianc"}


def test_a_negation_that_opens_a_question_or_a_sentence_on_another_subject_opposes_nothing():
    assert opposed("Why don't decision trees need feature scaling?", "Trees need feature scaling rarely.") is None
    assert opposed("Why can't a perceptron learn XOR?", "Multi-layer networks can learn XOR.") is None
    assert opposed(SVMS, "Gradient boosting requires feature scaling.") is None   # shares nothing else with it


UPSAMPLING = ["The Upsampling 2D layer simply repeats each row and column of its input to double its size.",
              "It has been shown that the Conv2d Transpose method can lead to artifacts, or small checkerboard "
              "patterns in the output image."]


def test_a_sentence_that_says_what_a_why_question_presumes_of_another_name_reassigns_it():
    asked = "Why does UpSampling2D cause checkerboard artifacts in the output image?"
    assert reassigned(asked, ["upsampling2d"], UPSAMPLING) == UPSAMPLING[1]
    # the notes say it of the asked name too, or the question presumes nothing, or names nothing: no clash
    also = UPSAMPLING + ["Even UpSampling2D can leave checkerboard artifacts in the output image."]
    assert reassigned(asked, ["upsampling2d"], also) is None
    assert reassigned("How does UpSampling2D avoid checkerboard artifacts in the output image?", ["upsampling2d"],
                      UPSAMPLING) is None
    assert reassigned("Why do transposed convolutions cause checkerboard artifacts?", [], UPSAMPLING) is None
    # a sentence on the same words that names no other thing is an answer in other words
    assert reassigned("Why does EMA smooth the weights?", ["ema"], ["The average smooths the weights over steps."]) \
        is None


BOOSTING = "Lower learning rate values generally lead to better generalization."


def test_a_sentence_at_the_other_pole_of_a_degree_the_why_question_presumes_reverses_it():
    asked = "Why do my boosting notes warn that lowering the learning rate makes boosted trees generalize worse?"
    assert reversed_degree(asked, BOOSTING)   # lower = lowering, better against worse: one pair flipped
    assert reversed_degree("Why do larger batches need a lower learning rate?",
                           "Small batches work well with a low learning rate.")
    # two flips agree with the question; no why, nothing presumed; a sentence on other words says nothing of it
    assert not reversed_degree("Why does raising the learning rate make boosted trees generalize worse?", BOOSTING)
    assert not reversed_degree("Does lowering the learning rate make boosted trees generalize worse?", BOOSTING)
    assert not reversed_degree("Why do deeper trees generalize worse?", "Deeper networks often generalize better.")
    # a direction is a scale too: "round that down" against "round this up"
    epoch = "Since you can't have fractional iterations, you would typically round this up to 32 iterations."
    assert reversed_degree("1000/32 = 31.25 iterations - why do the notes round that down to 31 per epoch?", epoch)
    assert not reversed_degree("1000/32 = 31.25 iterations - why do the notes round that up to 32 per epoch?", epoch)
    # a quality and its noun are one word to a degree: a less pure node is a node of lower purity
    gini = "A lower Gini index indicates a higher purity of the node."
    assert reversed_degree("Why does my summary say a lower Gini index means a less pure node?", gini)
    assert not reversed_degree("Why does my summary say a lower Gini index means a more pure node?", gini)


def test_each_degree_word_pairs_with_the_word_said_of_the_same_things():
    # "more trees" pairs with "more trees", not with "smaller", which is said of the learning rate
    assert not reversed_degree("Why does a lower learning rate need more trees?",
                               "A smaller learning rate means the model corrects its mistakes more cautiously, "
                               "potentially requiring more trees but often leading to better generalization.")
    assert not reversed_degree("Why does batch normalization allow higher learning rates?",
                               "Batch normalization reduces internal covariate shift, allowing higher learning rates.")
    # "small" is said of windows, "more" of information: a word they share further off pairs nothing
    assert not reversed_degree("Why do deep layers keep more information about the image?",
                               "Convolutional layers learn local patterns: in images, patterns in small 2D windows.")


def test_a_part_presumes_what_it_asks_why_of_or_states_the_notes_say():
    assert presumes("Why do my notes round that down?")
    assert presumes("Since Deloitte found a 70% lift, as my slides put it, where does it come from?")
    assert presumes("My gen AI slides say strides of 2 halve the size - so how does a decoder grow it?")
    assert presumes("Given that the root node holds 8 birds and 2 mammals, what Gini value does the note compute?")
    assert not presumes("What do my slides say about strides?")
    assert not presumes("Given the root node's counts, what Gini value does the note compute?")
    assert not presumes("How does a decoder grow the image, my notes say?")


DELOITTE = ("According to Deloitte, it increases productivity by 25%, reduces breakdowns by 70%, and lowers "
            "maintenance costs by 25%.")
CLIP = "The model is trained on a dataset of 400 million text\u2013image pairs scraped from the internet."


def test_a_sentence_giving_another_number_to_what_the_question_numbers_renumbers_it():
    asked = "Since Deloitte found predictive maintenance lifts productivity by 70%, as my slides put it, why so much?"
    assert renumbered(asked, [DELOITTE]) == DELOITTE   # 70% is said of breakdowns, productivity's is 25%
    assert renumbered(asked.replace("70%", "25%"), [DELOITTE]) is None
    clip = "Why was CLIP trained on such a tiny dataset - only about 400 thousand text-image pairs?"
    assert renumbered(clip, [CLIP]) == CLIP            # a magnitude is part of the value
    assert renumbered(clip.replace("thousand", "million"), [CLIP]) is None
    assert renumbered(clip.replace("400 thousand", "400M"), [CLIP]) is None
    # a question that presumes nothing computes with its numbers; another sentence giving the value keeps it
    assert renumbered("How does maintenance lift productivity by 70%?", [DELOITTE]) is None
    also = [DELOITTE, "Deloitte later raised productivity by 70% in one plant."]
    assert renumbered(asked, also) is None
    # a number is said of the words in its clause: "70% training, 15% validation"
    split = "A common split ratio might be 70% training, 15% validation, and 15% test."
    assert renumbered("Why do my notes split a dataset with 50% training, 25% validation, 25% test?", [split]) == split
    assert renumbered("Why do my notes split a dataset with 70% training, 15% validation, 15% test?", [split]) is None
    # a ratio gives its numbers respectively: they are said of no one word
    assert renumbered("Why do my notes split a dataset 70/15/15 into training, validation and test?", [split]) is None
    votes = 'In our case, "Dog" receives 3 votes and "Cat" receives 2 votes.'
    assert renumbered("Why does the forest end up predicting Cat with 3 of the 5 votes?", [votes]) == votes
    # a sentence on other things shares the number's word by chance
    assert renumbered("Why do my notes put productivity up by 70%?", ["Productivity rose by 10% in 2020."]) is None


def test_doubling_and_halving_are_a_scale_and_a_statement_of_the_notes_presumes():
    asked = "My gen AI slides say a conv transpose layer with strides = 2 halves the input size - so how does it grow?"
    said = "A conv transpose layer differs in that setting strides = 2 doubles the size of the input tensor."
    assert reversed_degree(asked, said)
    assert not reversed_degree(asked.replace("halves", "doubles"), said)
    assert not reversed_degree("What do my slides say strides = 2 does to the input size of a conv transpose layer?",
                               said)


def test_before_and_after_are_a_scale_an_attributed_order_reverses():
    said = ("CLIP was unveiled in a paper published by OpenAI in February 2021 (just a few days after the first DALL.E "
            "paper).")
    asked = "CLIP came out weeks before the first DALL.E paper - so what did DALL.E take from it, per my slides?"
    assert reversed_degree(asked, said)
    assert not reversed_degree(asked.replace("before", "after"), said)
    assert not reversed_degree(asked.replace(", per my slides", ""), said)   # asks, presumes nothing


def test_a_granted_number_the_notes_give_otherwise_renumbers_it():
    said = "Initial Node (Root): Suppose you have 10 animals - 6 Birds and 4 Mammals."
    asked = "Given that the root node holds 8 birds and 2 mammals, what Gini value does the note compute for the root?"
    assert renumbered(asked, [said]) == said
    assert renumbered(asked.replace("8 birds and 2", "6 birds and 4"), [said]) is None


def test_a_superlative_is_the_pole_of_its_scale():
    said = ("The split that results in the lowest weighted Gini index is considered the best for dividing the data at "
            "that particular node in the decision tree.")
    assert reversed_degree("Why does a node with a higher Gini value count as purer in my decision-tree notes?", said)
    assert not reversed_degree("Why does a node with a lower Gini value count as purer in my decision-tree notes?",
                               said)
