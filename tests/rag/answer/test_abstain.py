"""Abstention: thresholds from settings, unknown question terms, refusals that name the closest notes."""
from dataclasses import replace

from rag.answer.abstain import (
    Coverage,
    compound_subject,
    compounds,
    decide,
    in_notes_spelling,
    names_a_term,
    question_terms,
    refusal,
)
from rag.answer.vocabulary import Vocabulary, regional
from rag.core.settings import AnswerSettings
from rag.core.types import Chunk, SearchResult


def test_vocabulary_is_prefix_tolerant():
    vocab = Vocabulary(["Backpropagation computes gradients of convnet layers."])
    assert vocab.knows("backprop")                   # an abbreviation of a longer word in the notes
    assert vocab.knows("backpropagating") and vocab.knows("convnets") and vocab.knows("gradient")
    assert not vocab.knows("hnsw")


def test_vocabulary_knows_plurals_both_ways_abbreviations_and_compounds():
    vocab = Vocabulary(["# GANs", "Convolutional networks use pooling.", "We use fine tuning here, and F1-score."])
    assert vocab.knows_term("gan") and vocab.knows_term("gans")
    assert vocab.knows_term("convnets") and vocab.knows_term("finetuning")   # two adjacent words, shortened
    assert vocab.knows_term("f1-score") and vocab.knows_term("5-fold") == vocab.knows_term("fold")
    assert not vocab.knows_term("wasserstein") and not vocab.knows_term("level-wise")


def test_a_name_closed_by_a_symbol_is_known_only_as_written():
    vocab = Vocabulary(["Clustering with k-means groups points; the runtime is written in C++."])
    assert vocab.knows_term("c++") and vocab.knows_term("k-means")
    assert not vocab.knows_term("k-means++") and not vocab.knows_term("c#")


def test_question_subject_is_the_multi_word_thing_asked_about():
    assert compound_subject("What is label smoothing and why does it help classifiers?") == "label smoothing"
    assert compound_subject("What is the maximum likelihood estimation?") == "maximum likelihood estimation"
    assert compound_subject("What are residual connections for?") == "residual connections"
    assert compound_subject("What does retrieval augmented generation require?") == "retrieval augmented generation"
    assert compound_subject("What does batch norm do at test time?") == "batch norm"   # the verb is no part of it
    assert compound_subject("What does batch norm really do at test time?") == "batch norm"   # nor an adverb
    assert compound_subject("What does dropout actually do to a layer?") is None   # one word once "actually" goes
    assert compound_subject("What is the basic goal of an autoencoder?") is None   # an aspect: the autoencoder is asked
    assert compound_subject("What does the perceptron convergence theorem guarantee about mistakes?") == \
        "perceptron convergence theorem"   # its verb is the word before the first function word
    assert compound_subject("What does the Chinchilla scaling law say about tokens?") == "Chinchilla scaling law"
    assert compound_subject("What is EMA in diffusion?") is None  # one word: checked as a question term
    assert compound_subject("How does YOLO work?") is None
    assert compound_subject("What is the difference between stemming and lemmatization?") is None
    assert compound_subject("Which vector database do they recommend?") == "vector database"
    assert compound_subject("Which kinds of layers does it use?") is None
    assert compound_subject("Which reinforcement learning example does it give?") is None   # like "kind", "example",
    assert compound_subject("Which three noise schedulers do the slides describe?") is None   # a count: a category to
    assert compound_subject("What are the 3 broad families of transformers?") is None         # list, asker's words


def test_phrases_are_known_only_when_their_words_occur_together():
    vocab = Vocabulary(["Smoothing the labels helps. Each label is one-hot.", "Maximum likelihood estimates theta."])
    assert not vocab.knows_phrase("label smoothing")  # both words occur, never side by side
    assert vocab.knows_phrase("maximum likelihood estimation")  # inflections match on the first letters


def test_question_terms_drop_question_and_meta_words():
    assert question_terms("How does an HNSW index speed up search?") == ["hnsw", "index", "speed", "search"]
    assert question_terms("What do my GenAI slides say about CLIP?") == ["genai", "clip"]
    assert question_terms("Was CLIP 10x smaller in 2019?") == ["clip", "smaller", "2019"]   # a year names a time
    # an aspect of a thing is not what the notes must hold: they may say "considerations" for "downsides"
    assert question_terms("RAG or fine-tuning: benefits and downsides?") == ["rag", "fine", "tuning"]


def test_decide_uses_settings_thresholds():
    s = AnswerSettings()
    good = Coverage(top_dense=0.7, top_evidence=0.8)
    assert decide(good, s) is None
    assert decide(Coverage(0.1, 0.8), s) is not None
    assert decide(Coverage(0.7, 0.1), s) is not None
    unknown = Coverage(0.5, 0.6, ["yolo"], 0.8)
    assert decide(unknown, s) is not None
    assert decide(unknown, replace(s, unknown_term_min_dense=0.4)) is None
    assert decide(replace(unknown, top_evidence=0.8), s) is None  # a strong evidence sentence overrides
    assert decide(Coverage(0.1, 0.8), replace(s, min_retrieval_score=0.0)) is None
    unknown_phrase = Coverage(0.5, 0.6, unknown_subject="label smoothing")
    assert "label smoothing" in decide(unknown_phrase, s)
    assert decide(replace(unknown_phrase, top_dense=0.6), s) is None  # strong retrieval overrides
    # ... a passage's or a sentence's: "how does an LSTM stop older information from fading away?" has a word the
    # notes never use, a passage at 0.52 and the sentence that answers it ("... preventing older signals from
    # gradually vanishing ...") at 0.67
    fading = Coverage(0.52, 0.69, ["fading"], 0.88, top_sentence=0.67)
    assert decide(fading, s) is None
    assert "fading" in decide(replace(fading, top_sentence=0.5), s)
    assert decide(replace(unknown_phrase, top_sentence=0.6), s) is None


def test_a_sentence_close_to_the_question_counts_where_its_long_passage_does_not():
    """"What does bagging do?" is far from the long list that holds it (0.27) but close to its line (0.48)."""
    s = AnswerSettings()
    assert decide(Coverage(0.27, 0.79, top_sentence=0.48), s) is None
    assert "0.24 <" in decide(Coverage(0.23, 0.79, top_sentence=0.24), s)


def test_structural_reasons_refuse_whatever_the_scores():
    s = AnswerSettings()
    strong = Coverage(top_dense=0.9, top_evidence=0.95)
    wasserstein = replace(strong, unknown_focus=["wasserstein"], unknown_names=["wasserstein"])
    assert "wasserstein" in decide(wasserstein, s)
    assert "do not explain" in decide(replace(strong, unexplained_focus=["f1-score"]), s)
    assert "connects" in decide(replace(strong, unconnected=["google + clip"]), s)
    assert replace(strong, unconnected=["google + clip"]).finding(s) == "No note of yours connects google with clip."
    assert "never mention wasserstein" in refusal([], wasserstein.finding(s))
    unused = replace(strong, unknown_subject="label smoothing", unused_subject="label smoothing")
    assert "label smoothing" in decide(unused, s)
    assert unused.finding(s) == "Your notes never mention label smoothing."


def test_a_common_word_the_notes_never_use_yields_to_a_sentence_that_answers_in_their_words():
    """"The GAN approach for sharpening poor medical images": the note says "enhance the quality of low-resolution
    medical images". A word that is no name counts only while no evidence sentence scores unknown_term_max_evidence;
    a name never yields."""
    s = AnswerSettings()
    sharpening = Coverage(top_dense=0.6, top_evidence=s.unknown_term_max_evidence, unknown_focus=["sharpening"])
    assert decide(sharpening, s) is None and sharpening.finding(s) is None
    weak = replace(sharpening, top_evidence=s.unknown_term_max_evidence - 0.01)
    assert "never mention sharpening" in decide(weak, s)
    assert weak.finding(s) == "Your notes never mention sharpening."
    named = replace(sharpening, unknown_focus=["turing"], unknown_names=["turing"])
    assert "never mention turing" in decide(named, s)


def test_a_subject_the_notes_never_phrase_is_refused_only_when_no_passage_uses_its_words(make_chain_for):
    chain = make_chain_for({"training.md": (
        "# Classifiers\n\nEach label is one-hot encoded before the cross-entropy loss is computed.\n\n"
        "Regularization has a smoothing effect on the decision boundary of a classifier.\n\n"
        "# Normalization\n\nBatch normalization rescales the activations of each batch to zero mean and unit "
        "variance during training. At evaluation time it uses running averages instead of batch statistics.\n")})
    chain.gaps = None
    refused = chain.answer("What is label smoothing and why does it help classifiers?")
    assert refused.abstained and "never mention label smoothing" in refused.answer
    answered = chain.answer("What is batch norm used for at evaluation time?")
    assert not answered.abstained and "running averages" in answered.answer


def test_refusal_names_closest_notes():
    hits = [SearchResult(Chunk(src, head, "t", 1, 1, 0, 1), 0.1) for src, head in
            [("a.md", "Intro"), ("a.md", "Intro"), ("b.txt", "")]]
    text = refusal(hits)
    assert "a.md (Intro)" in text and "b.txt" in text and text.count("a.md") == 1
    assert "could not find" in refusal([]) and "nothing close" in refusal([])


def test_chain_abstains_on_uncovered_question(make_chain):
    ans = make_chain("extractive").answer("How does YOLO detect objects in a single forward pass?")
    assert ans.abstained and ans.citations == []
    assert "closest notes" in ans.answer and ".md" in ans.answer
    assert ans.diagnostics["abstain_reason"]


def test_chain_answers_covered_question(make_chain):
    ans = make_chain("extractive").answer("What is EMA in diffusion models?")
    assert not ans.abstained and ans.citations


def test_chain_refuses_a_subject_that_is_only_listed(make_chain_for):
    chain = make_chain_for({"metrics.md": "# Metrics\n\nKeep an eye on metrics like accuracy, precision, recall, "
                                          "F1-score, etc., on both training and test data.\n\nAccuracy is the share "
                                          "of correct predictions among all predictions made by the model.\n"})
    ans = chain.answer("How is the F1-score computed from precision and recall?")
    assert ans.abstained and "do not explain" in ans.diagnostics["abstain_reason"]
    assert not chain.answer("How is accuracy computed?").abstained
    # a thing the question itself lists as an example is where the asked one helps, not what it asks about
    example = chain.answer("Why is accuracy worth checking for metrics like precision or F1-score?")
    assert "f1-score" not in (example.diagnostics["coverage"]["unexplained_focus"] or [])


def test_a_year_dates_what_the_question_asks_about_and_needs_no_explaining(make_chain_for):
    chain = make_chain_for({"data.md": "# Data\n\n- The Unreasonable Effectiveness of Data, Halevy, Norvig, Pereira, "
                                       "2009, Google\n\nThe paper argues that more data beats clever algorithms for "
                                       "language tasks, so collecting data matters most.\n"})
    chain.gaps = None
    ans = chain.answer("What does that 2009 paper argue about more data versus clever algorithms?")
    assert not ans.abstained and "more data beats clever algorithms" in ans.answer


def test_chain_refuses_a_subject_that_only_a_table_row_names(make_chain_for):
    chain = make_chain_for({"rag.md": (
        "# Retrieval\n\nRetrieval augmented generation retrieves passages and gives them to the model as context.\n"
        "\n| approach | source | benefit |\n|---|---|---|\n| RAG | a vector database | fresh knowledge |\n"
        "| fine-tuning | training data | style |\n\nA vector space model ranks documents by cosine similarity.\n")})
    chain.gaps = None
    ans = chain.answer("Which vector database do the notes recommend for retrieval augmented generation?")
    assert ans.abstained and "mention vector database but do not explain" in ans.answer
    assert not chain.answer("Which vector space model ranks documents?").abstained
    # a question about the row's own entity and its table's columns is answered by the row, cells labelled
    ans = chain.answer("Which source does RAG use, and what benefit does it give?")
    assert not ans.abstained and "RAG - source: a vector database; benefit: fresh knowledge" in ans.answer
    assert "| RAG | a vector database | fresh knowledge |" in [c.quote for c in ans.citations]


def test_a_quoted_term_is_what_the_question_asks_about_and_the_other_words_set_the_scene(make_chain_for):
    chain = make_chain_for({"nlp.md": "# NLP words\n\nIn NLP, the set of all types in a corpus is called its "
                                      "vocabulary or lexicon.\n\nStop words carry little meaning.\n"})
    chain.gaps = None
    asked = chain.answer("In NLP jargon, what does 'lexicon' refer to?")
    assert not asked.abstained and "lexicon" in asked.answer
    # unquoted, "jargon" may be the point: it counts until a sentence answers the question in the notes' words
    assert not chain.answer("In NLP jargon, what does lexicon refer to?").abstained
    assert "never mention jargon" in chain.answer("How big is a lexicon in practice, in NLP jargon?").answer
    assert chain.answer("In BPE jargon, what does 'lexicon' refer to?").abstained   # a name the notes never use


def test_chain_refuses_a_false_premise(make_chain_for):
    chain = make_chain_for({"clip.md": "# CLIP\n\nCLIP was released by OpenAI in 2021 to match images and text.\n",
                            "search.md": "# Search\n\nGoogle ranks web pages with many signals.\n"})
    ans = chain.answer("Why did Google release CLIP?")
    assert ans.abstained and "connects" in ans.diagnostics["abstain_reason"]
    assert not chain.answer("Who released CLIP?").abstained


def test_chain_refuses_a_premise_the_notes_say_of_another_name(make_chain_for):
    chain = make_chain_for({"gen.md": "# UpSampling 2D\n\n- The UpSampling2D layer repeats each row and column of its "
                                      "input to double its size.\n- The **Conv2DTranspose** method can lead to "
                                      "artifacts, or small checkerboard patterns in the output image.\n"})
    chain.gaps = None
    ans = chain.answer("Why does UpSampling2D cause checkerboard artifacts in the output image?")
    # quoted as an answer shows it: without its markdown
    assert ans.abstained and 'say "The Conv2DTranspose method can lead to artifacts' in ans.answer
    assert not chain.answer("Why does Conv2DTranspose cause checkerboard artifacts in the output image?").abstained


def test_chain_refuses_a_term_the_notes_never_use_whatever_the_similarity(make_chain_for):
    chain = make_chain_for({"gan.md": "# GANs\n\nGAN training minimises a divergence between the data and the "
                                      "generator distributions; the discriminator estimates it.\n"})
    ans = chain.answer("How does the Wasserstein GAN training minimise the divergence?")
    assert ans.abstained and "wasserstein" in ans.diagnostics["abstain_reason"]


def test_a_language_name_is_no_term_the_notes_must_write(make_chain_for):
    chain = make_chain_for({"vae.md": "# Autoencoder\n\nL'autoencoder comprime l'input in uno spazio latente e lo "
                                      "ricostruisce dal codice.\n"})
    chain.gaps = None
    ans = chain.answer("What does my Italian autoencoder series say it compresses? Answer in English.")
    assert not ans.abstained and "spazio latente" in ans.answer
    assert "never mention" in chain.answer("What does my autoencoder series say about Wasserstein GANs?").answer


def test_chain_refuses_a_premise_the_evidence_says_otherwise(make_chain_for):
    chain = make_chain_for({"diffusion.md": "# Diffusion training\n\nThe training loop adds noise to an image. We "
                                            "then calculate the loss (mean absolute error) between the predicted "
                                            "noise and the true noise.\n",
                            "losses.md": "# Losses\n\nRegression models are often fit with the mean squared error.\n"})
    ans = chain.answer("Why does the training loop use mean squared error between the predicted and the true noise?")
    assert ans.abstained and '"mean absolute error", not "mean squared error"' in ans.answer
    assert not chain.answer("Which loss does the training loop calculate between the predicted and the true "
                            "noise?").abstained


def test_an_unknown_focus_word_found_in_another_language_is_known():
    """A focus word the notes never use counts as mentioned once a retrieved unit in another language matches it at
    foreign_term_min_e5 or more; below that, or with no such unit, it is still refused."""
    s = AnswerSettings(foreign_term_min_e5=0.5)
    base = Coverage(top_dense=0.9, top_evidence=0.6, unknown_focus=["reconstruction"])
    assert "reconstruction" in decide(base, s)
    assert "reconstruction" in decide(replace(base, foreign_terms={"reconstruction": 0.49}), s)
    assert decide(replace(base, foreign_terms={"reconstruction": 0.62}), s) is None
    assert "wasserstein" in decide(replace(base, unknown_focus=["reconstruction", "wasserstein"],
                                           foreign_terms={"reconstruction": 0.62}), s)


def test_words_the_notes_never_use_count_only_in_the_language_of_the_best_evidence():
    """Answered from a note in another language, a question's common words cannot occur in it: only its names (written
    the same in every language) must; answered in the notes' own language, every specific word must."""
    from rag.answer.abstain import measure
    from rag.answer.evidence import Evidence
    from rag.answer.question import analyse

    italian = "L'idea degli autoencoders è rappresentare la stessa cosa in uno spazio minore: compressione con loss."
    hit = SearchResult(Chunk("it.md", "Autoencoder", italian, 1, 1, 0, len(italian)), 0.9)
    vocab = Vocabulary([italian])

    def unknown(question: str, foreign: bool) -> list[str]:
        query = analyse(question, lambda word: 2 if word in ("lossy", "lossless", "autoencoding", "keras") else 1)
        evidence = [Evidence(1, italian, hit, 0, len(italian), 0.6, foreign=foreign)]
        return measure(query, [hit], evidence, vocab).unknown_focus

    assert unknown("Is autoencoding lossy or lossless compression?", foreign=True) == []
    assert unknown("Is autoencoding lossy or lossless compression?", foreign=False) == ["lossy", "lossless"]
    assert unknown("Does Keras make lossy autoencoders?", foreign=True) == ["keras"]   # a name is written as is


def test_a_subject_the_conversation_gives_lets_the_follow_ups_other_words_set_the_scene():
    from rag.answer.abstain import measure
    from rag.answer.evidence import Evidence
    from rag.answer.question import analyse

    text = "Temperature rescales the logits: a low temperature gives coherence, a high one gives diversity."
    hit = SearchResult(Chunk("t.md", "Sampling", text, 1, 1, 0, len(text)), 0.9)
    vocab = Vocabulary([text])
    query = analyse("whats the catch if I crank temperature way up", lambda word: 1)
    evidence = [Evidence(1, text, hit, 0, len(text), 0.5)]
    assert "crank" in measure(query, [hit], evidence, vocab).unknown_terms
    assert measure(query, [hit], evidence, vocab, given="temperature").unknown_terms == []
    assert "crank" in measure(query, [hit], evidence, vocab, given="nucleus sampling").unknown_terms   # not in notes


def test_an_unknown_word_counts_where_it_names_a_term_with_a_word_the_notes_know():
    knows = Vocabulary(["The loss of a random forest; training data for a model; the decoder of a VAE."]).knows
    assert names_a_term("focal", "Why does focal loss help with imbalance?", knows)
    assert names_a_term("isolation", "How does an isolation forest score anomalies?", knows)
    assert not names_a_term("putting", "If I'm putting together the training data, what do I do?", knows)
    assert not names_a_term("draft", "What can the assistant draft?", knows)
    assert not names_a_term("fix", "What goes wrong with the decoder, and how do people fix it?", knows)
    assert not names_a_term("liner", "What is a model? My notes have a one-liner on it", knows)
    assert not names_a_term("focal", "What is focal, loss?", knows)    # a comma ends the term
    assert names_a_term("perplexity", "How is the perplexity of a model computed?", knows)   # "of" joins a term
    assert names_a_term("perplexity", "How is the perplexity of a random forest computed?", knows)
    # an article opens another term: a verb and its object
    assert not names_a_term("finished", "Say I've finished a random forest. How do I keep the training data?", knows)
    assert names_a_term("finished", "Say I've got finished model weights. How do I keep them?", knows)
    assert not names_a_term("bottleneck", "Why is a decoder with a bottleneck as wide as its input useless?", knows)
    # an item listed with a term is a term: "and" / "or" reach across to the two words of the item beside it
    assert names_a_term("superintelligence", "How do narrow models, random forests and superintelligence differ?",
                        knows)
    assert not names_a_term("draft", "What can the assistant draft and why?", knows)


def test_a_word_given_as_another_name_or_set_off_by_an_aside_is_read_with_its_neighbours():
    knows = Vocabulary(["Drug discovery uses generative models; sampling picks the next token; a random forest."]).knows
    assert not names_a_term("pharma", "For pharma / drug discovery, what uses do the slides list?", knows)
    assert names_a_term("nucleus", "How does nucleus (top-p) sampling pick tokens?", knows)   # one term around it
    assert not names_a_term("inside", "Three ways to peek inside a trained random forest?", knows)   # a preposition


def test_hyphenated_compounds_are_terms_and_numbers_are_none():
    assert compounds("random forest out-of-bag error: is it a 4-sample estimate?") == ["out-of-bag"]
    assert compounds("what does the Italian-language intro call a write-up?") == []   # a language, a note's name
    assert "five" not in question_terms("What are the five prompting principles?")


def test_a_word_one_slip_of_typing_from_a_notes_word_is_respelled_unless_it_is_a_word_of_its_own():
    vocab = Vocabulary(["A covnet learns edges; the first convent layer too; a factor of two; bagging trees."])
    whole = {"factory", "tagging"}.__contains__   # words the embedder's vocabulary holds whole
    assert vocab.respelled("What does a convnet learn?", whole) == {"convnet": "convent covnet"}
    assert vocab.respelled("How does the factory use tagging?", whole) == {}
    assert vocab.respelled("Is baggging slow?", lambda w: False) == {"baggging": "bagging"}
    assert vocab.respelled("Is tagging slow?", lambda w: False) == {}   # a letter changed is no slip


def test_a_word_in_the_other_of_british_and_american_spelling_is_read_as_the_notes_write_it():
    vocab = Vocabulary(["k-nearest neighbors votes among the closest points; we normalise inputs before modeling."])
    whole = {"neighbours", "normalize", "modelling"}.__contains__   # whole words of the language: no slips, yet spelled
    assert vocab.respelled("How do k-nearest neighbours decide?", whole) == {"neighbours": "neighbors"}
    assert vocab.respelled("Why normalize before modelling?", whole) == {"normalize": "normalise",
                                                                        "modelling": "modeling"}
    assert vocab.respelled("Which colours do the neighbors have?", whole) == {}   # neither spelling in the notes
    assert regional("analyse") == ["analyze"] and regional("centre") == ["center"] and regional("bagging") == []


def test_a_hyphenated_term_is_read_in_the_notes_spelling_of_its_parts():
    vocab = Vocabulary(["The Robbins-Moro algorithm needs no gradients."])
    spelled = vocab.respelled("Does Robbins-Monro need derivatives?", lambda w: False)
    assert spelled == {"Monro": "moro"}
    assert vocab.knows_term(in_notes_spelling("robbins-monro", {"monro": "moro"}))
    assert not vocab.knows_term("robbins-monro")


def test_quantity_nouns_and_note_names_are_no_terms():
    assert "sort" not in question_terms("What sort of problem is fitting the parameters?")
    assert "handful" not in question_terms("What is it called when you grab a handful of points?")
    assert compounds("In my clustering write-up, what is a cheat-sheet answer?") == []


def test_a_question_that_names_nothing_is_refused_and_says_so(make_chain):
    chain = make_chain("extractive")
    for question in ["/", "vs vs vs", "what is it?"]:
        answer = chain.answer(question)
        assert answer.abstained and "names nothing to look for" in answer.answer
        assert answer.diagnostics["coverage"]["asks_nothing"]
    assert not chain.answer("what is EMA?").diagnostics["coverage"]["asks_nothing"]
