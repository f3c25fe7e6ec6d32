"""Question analysis: parts of multi-part and comparison questions, focus words, names, words naming a note."""
from rag.answer.question import analyse, quoted_terms, set_aside, split_parts
from rag.core.text import stem


def pieces(word):
    """Stands in for the embedder's word-piece count: long or odd words come in pieces."""
    return 1 if word.isalpha() and len(word) <= 8 else 2


def test_a_simple_question_is_one_part():
    assert split_parts("What is EMA in diffusion?") == ("What is EMA in diffusion?",)


def test_clauses_that_start_a_new_question_are_parts_in_order_with_the_leading_context():
    assert split_parts("According to the timeline, what was introduced in the 1980s, and which methods gained "
                       "popularity in the 1990s?") == (
        "According to the timeline, what was introduced in the 1980s",
        "According to the timeline, which methods gained popularity in the 1990s?")
    assert len(split_parts("What is the Naive Bayes assumption, why is it useful and when does it not hold?")) == 3
    assert split_parts("Intuitively, what does Naive Bayes do, and what should you know before studying it?") == (
        "Intuitively, what does Naive Bayes do", "Intuitively, what should you know before studying it?")


def test_a_leading_context_may_end_with_a_colon():
    assert split_parts("In the hierarchy of ML methods: what are ensemble methods for, and what does deep learning "
                       "add?") == ("In the hierarchy of ML methods, what are ensemble methods for",
                                   "In the hierarchy of ML methods, what does deep learning add?")


def test_a_question_or_request_after_a_question_mark_is_a_part_of_its_own():
    assert split_parts("What is dropout? How does batch norm work?") == ("What is dropout", "How does batch norm work?")
    assert split_parts("so my text is tokenized - how do I get from tokens to vectors? walk me through the indexing") \
        == ("so my text is tokenized - how do I get from tokens to vectors", "walk me through the indexing")
    assert split_parts("Is Murf a voice tool? it is on my slides") == ("Is Murf a voice tool? it is on my slides",)
    assert split_parts("What does the network predict? Also, how many steps does the loop run?") == (
        "What does the network predict", "how many steps does the loop run?")


def test_a_question_word_after_a_preposition_opens_a_part_after_and():
    assert split_parts("What does the network learn to predict, and with which loss?") == (
        "What does the network learn to predict", "with which loss?")
    assert split_parts("What is the encoder, with which the input is compressed?") == (
        "What is the encoder, with which the input is compressed?",)   # a relative clause


def test_a_subordinate_clause_stays_with_its_question():
    assert split_parts("When tokens are indexed, how large is the vocabulary?") == (
        "When tokens are indexed, how large is the vocabulary?",)
    assert split_parts("When sampling text, what does the temperature do, and what trade-off does it involve?") == (
        "When sampling text, what does the temperature do", "When sampling text, what trade-off does it involve?")
    assert split_parts("What is dropout, and when it is off, why do the activations shrink?") == (
        "What is dropout", "when it is off, why do the activations shrink?")
    assert split_parts("What is dropout, and when does it fail?") == ("What is dropout", "when does it fail?")
    assert split_parts("Besides Theano, which backends did Keras support, and what changed in 2.0?") == (
        "Besides Theano, which backends did Keras support", "what changed in 2.0?")


def test_a_part_asks_its_own_terms_the_leading_context_aside():
    q = analyse("When sampling text, what does the temperature do, and what trade-off does it involve?", pieces)
    assert q.lead == "When sampling text"
    assert q.own_terms(1) == {"trad", "involv"} and "sampl" in q.part_terms(1)
    compared = analyse("How do random forests and boosted trees differ in how they grow trees?", pieces)
    assert compared.lead == "" and "grow" in compared.own_terms(0) and "grow" in compared.own_terms(1)


def test_each_part_knows_its_clause_and_the_sides_of_a_comparison_share_one():
    assert analyse("What is dropout, and when does it fail?", pieces).clauses == (0, 1)
    assert analyse("L1 vs L2 weight decay: what is the difference?", pieces).clauses == (0, 0)
    assert analyse("What is EMA, and how do L1 and L2 decay differ?", pieces).clauses == (0, 1, 1)
    assert analyse("What is EMA in diffusion?", pieces).clauses == (0,)


def test_compared_things_with_their_own_article_share_the_words_after_them_once():
    assert split_parts("What does it do on the compression side vs the decompression side?") == (
        "What does it do on the compression side?", "What does it do on the decompression side?")


def test_the_first_compared_thing_starts_after_the_questions_verb():
    assert split_parts("what is bagging vs boosting") == ("what is bagging", "what is boosting")
    assert split_parts("does dropout vs batchnorm help more?") == ("does dropout help more?",
                                                                   "does batchnorm help more?")


def test_comparisons_split_into_one_part_per_compared_thing():
    assert split_parts("L1 vs L2 weight decay: what is the difference?") == (
        "L1 weight decay: what is the difference?", "L2 weight decay: what is the difference?")
    a, b = split_parts("What is the difference between stemming and lemmatization?")
    assert "stemming" in a and "lemmatization" not in a and "lemmatization" in b and "stemming" not in b
    assert split_parts("How do random forests and boosted trees differ in how they grow trees?") == (
        "How do random forests differ in how they grow trees?", "How do boosted trees differ in how they grow trees?")


def test_focus_words_are_specific_names_numbers_and_rare_words_not_the_notes_name():
    q = analyse("Why did Google release CLIP in 2019, according to my GenAI slides?", pieces)
    assert q.focus == ("google", "clip", "2019") and q.names == ("google", "clip", "2019")
    q = analyse("If I use mini-batches of 64, how many iterations make an epoch?", pieces)
    assert "64" not in q.focus and "iterations" in q.focus and q.names == ()
    assert analyse("How does the perceptron update its weights?", pieces).focus == ("perceptron",)
    q = analyse("Must the latent space be 10x smaller, or 1.5 times, for GPT-4's 20B weights?", pieces)
    assert q.focus == ("gpt-4",)   # numbers with a multiplier or magnitude are values too; a name keeps its digits
    assert "step-size" not in analyse("Which step-size conditions hold?", pieces).focus
    assert analyse("What overall takeaway about GANs do the downsides give?", pieces).focus == ("gans",)
    q = analyse("how does k-means++ pick its centres, and is it written in C#?", pieces)
    assert q.focus == ("k-means++", "c#") and q.names == ("k-means++", "c#")   # a closing symbol makes a name


def test_quoted_terms_are_the_short_ones_a_question_puts_in_quotes():
    assert quoted_terms("In NLP jargon, what does 'lexicon' refer to?") == ("lexicon",)
    assert quoted_terms('What do \u201cfeature maps\u201d hold in an autoencoder\'s encoder?') == ("feature maps",)
    assert quoted_terms("Why did Turing say 'we have duplicated the human learning process'?") == ()   # a quotation
    # a quote that titles a part of the notes names where to look
    assert quoted_terms("In my DL review's 'activation and last layer' table, which loss goes with it?") == ()
    assert quoted_terms("On the 'Types of Artificial Intelligence' slides, how do they differ?") == ()


def test_words_that_only_name_the_note_are_not_terms_of_the_question():
    review = analyse("What capabilities of TensorFlow does the deep-learning review highlight?", pieces)
    assert review.note_words == {"deep", "learn"} and not review.note_words & review.terms
    assert "tensorflow" in review.terms
    old = analyse("Intuitively, what does Naive Bayes boil down to, according to the old Naive Bayes note?", pieces)
    assert old.note_words == {"old"} and {"naiv", "bay"} <= old.terms   # named elsewhere in the question too
    assert analyse("What is EMA in diffusion?", pieces).note_words == frozenset()
    blurb = analyse("Which book does the transformers blurb in my blog digest cite?", lambda w: 2)   # rare words
    assert "blurb" not in blurb.focus and "transformers" in blurb.focus   # it names a piece of the notes, like "post"
    dlwp = analyse("In my Deep Learning with Python notes, how does a Transformer use its queries?", pieces)
    assert "python" not in dlwp.focus and "deep" not in dlwp.focus and "transformer" in dlwp.focus   # a title
    assert "perceptron" in analyse("Why does the perceptron in my blog digest output -1?", pieces).focus   # no name
    intro = analyse("In the PyTorch NLP intro, what do observations refer to?", lambda w: 2)
    assert intro.note_words == {"pytorch", "nlp"} and intro.focus[0] == "observations"   # "intro" names a part
    # a part of the notes says where to look; what it names may be what is asked about too
    part = analyse("How are heads merged in the Deep Learning with Python part of my notes?", pieces)
    assert "python" not in part.focus and "python" in part.terms and part.note_words == frozenset()
    assert "pytorch" not in analyse("In the early-stopping bit of my NLP with PyTorch summary, what is 'converged'?",
                                    pieces).focus
    assert "encoder" in analyse("What does the Encoder part of the network learn?", pieces).focus


def test_a_first_clause_that_asks_nothing_sets_the_scene_of_every_part():
    assert split_parts("At sampling time, how does the model get from noise to an image?") == (
        "At sampling time, how does the model get from noise to an image?",)
    assert split_parts("With cascading BDTs in a search, why use one BDT per background, and what do the purer "
                       "samples buy you?") == (
        "With cascading BDTs in a search, why use one BDT per background",
        "With cascading BDTs in a search, what do the purer samples buy you?")
    assert split_parts("Name the three tricks, and which one is best?") == ("Name the three tricks",
                                                                           "which one is best?")


def test_a_modifier_suffix_leaves_the_name_it_is_made_from_and_speech_verbs_point_at_the_notes():
    q = analyse("How do BERT-style encoders differ from GPT-like decoders and transformer-based models?", pieces)
    assert q.focus[:2] == ("bert", "gpt") and "transformer" in q.focus
    quoted = analyse("What Salesforce numbers do my GenAI slides quote about customers?", pieces)
    assert "quot" not in quoted.terms and "salesforc" in quoted.terms
    italian = analyse("What does 'latent space' mean in my Italian autoencoder write-up?", pieces)
    assert "italian" not in italian.focus and italian.note_words == {"italian", "autoencoder"}
    assert "writ" not in italian.terms


def test_a_language_name_says_how_a_note_or_answer_is_written_and_is_no_term():
    q = analyse("What does the Italian-language one say about Wasserstein GANs? Give the gist in English.", pieces)
    assert q.focus == ("wasserstein", "gans") and q.names == ("wasserstein", "gans")
    assert q.other_language   # it asks what the notes say in Italian
    assert not analyse("Explain in English what Wasserstein GANs are.", pieces).other_language
    assert analyse("What is the latent space, going by the part in Italian?", pieces).other_language


def test_a_pronoun_with_its_clitic_is_no_name():
    q = analyse("Say I've trained a GAN and I'm stuck: how do my notes want me to fix it? They're vague.", pieces)
    assert q.focus == ("gan",) and "ive" not in q.terms and "im" not in q.terms


def test_the_words_that_tell_compared_things_apart_are_focus_words_however_common():
    assert {"claude", "chatgpt"} <= set(analyse("claude vs chatgpt - which one is better for long documents?",
                                                pieces).focus)
    assert "compression" in analyse("What does it do on the compression side vs the decompression side?",
                                    pieces).focus


def test_a_quoted_word_is_a_term_of_the_question_even_when_common():
    assert stem("instance") in analyse("In ML lingo, what's an 'instance'?", pieces).terms
    assert stem("instance") not in analyse("In ML lingo, what's an instance?", pieces).terms   # a stopword


def test_the_things_a_question_sets_aside_are_each_read_apart():
    assert set_aside("Besides shuffling/mini-batches, initialization and LR schedules, what else helps?") == (
        frozenset({"shuffl"}), frozenset({"mini", "batch"}), frozenset({"initialization"}),
        frozenset({"lr", "schedul"}))
    assert set_aside("What does dropout do besides regularizing?") == (frozenset({"regulariz"}),)
    assert set_aside("How does dropout regularize a network?") == ()
    assert set_aside("What sets GLIDE apart from DALL.E 2?") == ()   # "set apart from" compares
    assert set_aside("Aside from bagging, which ensembles are there?") == (frozenset({stem("bagging")}),)

