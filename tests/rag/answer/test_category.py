"""A false premise of category: the question files a thing under a heading the notes file it beside."""
from rag.answer.category import category_paths, claim, misfiled, paths

SUMMARY = "ml-summary.md"


def test_a_question_that_files_a_thing_under_a_category_is_read():
    assert claim("Why does my ML summary classify Stable Diffusion as a supervised learning model?") == \
        ("Stable Diffusion", "supervised learning")
    assert claim("Why is the VAE listed under unsupervised learning?") == ("VAE", "unsupervised learning")
    assert claim("What is Stable Diffusion?") is None
    assert claim("Which models does the summary list under unsupervised learning?") is None


def test_a_thing_under_a_sibling_heading_is_misfiled_and_one_under_the_asked_heading_is_not():
    holding = [(SUMMARY, paths("ML summary > Reinforcement Learning", "")), ("genai.md", paths("Stable Diffusion", ""))]
    found = [(SUMMARY, paths("ML summary > Supervised Learning", "")), (SUMMARY, paths("ML summary", "")),
             ("data.md", paths("Data > Labeling (for Supervised Learning)", ""))]
    categories = category_paths("supervised learning", found)
    assert categories == [(SUMMARY, ("ML summary", "Supervised Learning")),
                          ("data.md", ("Data", "Labeling (for Supervised Learning)"))]
    assert misfiled("supervised learning", holding, categories) == "Reinforcement Learning"
    under = holding + [(SUMMARY, paths("ML summary > Supervised Learning", "Ensembles"))]
    assert misfiled("supervised learning", under, categories) is None        # one unit files it as asked
    elsewhere = [("other.md", paths("ML summary > Reinforcement Learning", ""))]
    assert misfiled("supervised learning", elsewhere, categories) is None    # a sibling must be in the same note


def test_the_chain_refuses_a_thing_filed_under_the_wrong_category(make_chain_for):
    chain = make_chain_for({SUMMARY: (
        "# ML summary\n\nModels grouped by the kind of learning they use.\n\n"
        "## Supervised Learning\n\n- **CNN**: convolutional networks classify images from labelled examples.\n"
        "- **Boosting**: combines weak learners trained on labelled data into a strong one.\n\n"
        "## Reinforcement Learning\n\n- **Stable Diffusion**: reward feedback can tune or guide a generative model "
        "towards desired outputs.\n- **Q-Learning**: learns the value of an action in a state from rewards.\n")})
    chain.gaps = None
    refused = chain.answer("Why does my ML summary classify Stable Diffusion as a supervised learning model?")
    assert refused.abstained and '"Reinforcement Learning", not "supervised learning"' in refused.answer
    answered = chain.answer("Why does my ML summary list Stable Diffusion under reinforcement learning?")
    assert not answered.abstained and "reward feedback" in answered.citations[0].quote
