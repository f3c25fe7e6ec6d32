"""Table rows as records: quoted only for a question that names a row's entity and one of its table's columns."""
from rag.answer.question import analyse
from rag.answer.tables import LINES_ABOVE, cells, labelled, lines_above, question_units, records
from rag.index.units import RECORD

SIZES = ("Model Parameters\n\n\tTotal Parameters*\tTotal Data Size (in tokens)\nGPT-3\t175B\t300B\n"
         "GPT-NeoX\t20B\t472B\nBLOOM\t176B\t366B\n\nAccuracy matters too.\n")
METHODS = ("| Method | Data requirements | Considerations |\n|---|---|---|\n"
           "| Retrieval augmented generation (RAG) | External knowledge base | Longer prompts |\n"
           "| Prompt engineering | None | Less control |\n")


def q(text):
    return analyse(text, lambda word: 1)


def _asked(question, text):
    return [(text[u.start:u.end], shown) for u, shown in records(q(question), text)]


def test_cells_of_tab_and_pipe_rows_keep_an_empty_first_header_cell():
    assert cells("\tTotal Parameters*\tTotal Data Size (in tokens)") == ["", "Total Parameters",
                                                                          "Total Data Size (in tokens)"]
    assert cells("| RAG | **External** knowledge base | Longer prompts |") == ["RAG", "External knowledge base",
                                                                              "Longer prompts"]
    assert labelled(["GPT-NeoX", "20B", "472B"], ["", "Total Parameters:", "Tokens"]) == \
        "GPT-NeoX - Total Parameters: 20B; Tokens: 472B"
    assert labelled(["a", "b"], None) == "a; b"


def test_a_row_is_a_record_for_a_question_naming_its_entity_and_a_column():
    assert _asked("How many tokens was GPT-NeoX trained on?", SIZES) == [
        ("GPT-NeoX\t20B\t472B", "GPT-NeoX - Total Parameters: 20B; Total Data Size (in tokens): 472B")]
    unnamed = SIZES.replace("\n\tTotal", "\nTotal")   # the header's leading tab lost: it labels the columns after
    assert _asked("How many tokens was GPT-NeoX trained on?", unnamed) == _asked(   # the entity column
        "How many tokens was GPT-NeoX trained on?", SIZES)
    assert _asked("What does RAG require, and what are its considerations?", METHODS) == [
        ("| Retrieval augmented generation (RAG) | External knowledge base | Longer prompts |",
         "Retrieval augmented generation (RAG) - Data requirements: External knowledge base; "
         "Considerations: Longer prompts")]   # its abbreviation names it; "require" reads "requirements"


def test_a_row_is_a_record_for_a_question_naming_one_of_its_values_and_its_column():
    assert _asked("Which model was trained on 300B tokens?", SIZES) == [
        ("GPT-3\t175B\t300B", "GPT-3 - Total Parameters: 175B; Total Data Size (in tokens): 300B")]
    assert _asked("Which model was trained on 300b tokens, and how big is it?", SIZES) == _asked(
        "Which model was trained on 300B tokens?", SIZES)
    assert _asked("Which model was trained on 999B tokens?", SIZES) == []   # no row holds it
    assert _asked("Which model has 300B of accuracy?", SIZES) == []         # no column asked


def test_a_question_naming_two_rows_of_a_table_compares_them_whatever_it_calls_the_columns():
    asked = _asked("Prompt engineering or RAG: what does each one need, and what are its pros and cons?", METHODS)
    assert [line.split("|")[1].strip() for line, _ in asked] == ["Retrieval augmented generation (RAG)",
                                                                   "Prompt engineering"]
    assert _asked("Prompt engineering: what are its pros and cons?", METHODS) == []   # one row, no column named


def test_the_words_naming_the_note_may_name_the_column():
    rates = "Hallucination\n\nModel\tEstimated Size\tHallucination rate\nGPT-4\tUnknown\t8.39%\nAlpaca\tSmall\tHigh\n"
    assert _asked("In my hallucination slide, what's listed for Alpaca?", rates) == [
        ("Alpaca\tSmall\tHigh", "Alpaca - Estimated Size: Small; Hallucination rate: High")]
    assert _asked("In my GenAI slides, what's listed for Alpaca?", rates) == []   # nothing names a column


def test_a_row_is_no_record_for_a_question_about_what_its_entity_is_or_a_cell_it_only_names():
    assert _asked("What is GPT-NeoX?", SIZES) == []                      # no column asked: a mention, not an answer
    assert _asked("How many tokens was GPT-NeoX trained on, and why?", SIZES) == []   # a row holds no reasons
    assert _asked("How many tokens does a knowledge base hold?", METHODS) == []   # a cell, not the row's entity
    assert _asked("How big is the data of GPT-4?", SIZES) == []          # no row is about GPT-4
    assert _asked("What data requirements does the method column list?", METHODS) == []   # the header row itself


def test_records_sit_among_the_chunk_units_in_text_order():
    units = question_units(q("How many tokens was GPT-NeoX trained on?"), SIZES)
    kinds = [u.kind for u, _ in units]
    assert kinds.count(RECORD) == 1 and [u.start for u, _ in units] == sorted(u.start for u, _ in units)
    assert all(u.kind != RECORD for u, _ in question_units(q("What is GPT-NeoX?"), SIZES))


def test_a_table_that_text_interrupts_keeps_its_header_and_data_rows_are_never_a_header():
    split = ("| Method | Data requirements | Considerations |\n"
             "| RAG | External knowledge base | Longer prompts |\n\nPre-Training\n\n- Training an LLM from scratch\n\n"
             "| Fine-tuning | Thousands of domain-specific or instruction examples | Requires labeled data |\n"
             "| Pre-training | Large data sets of billions to trillions of tokens | Extremely resource-intensive |\n")
    assert _asked("What data does pre-training require?", split) == [
        ("| Pre-training | Large data sets of billions to trillions of tokens | Extremely resource-intensive |",
         "Pre-training - Data requirements: Large data sets of billions to trillions of tokens; "
         "Considerations: Extremely resource-intensive")]   # not labelled by the fine-tuning row above it
    headless = split[split.index("| Fine-tuning"):]
    assert _asked("What data does pre-training require?", headless) == []


def test_a_chunk_that_a_boundary_cut_from_its_table_header_finds_it_in_the_lines_above():
    note = ("| Method | Data requirements | Considerations |\n| RAG | External knowledge base | Longer prompts |\n\n"
            "Pre-Training\n\n| Pre-training | Large data sets | Extremely resource-intensive |\n")
    start = note.index("| Pre-training")
    chunk = note[start:]
    above = lines_above(note, start + 2)   # a chunk that starts mid-line still gets whole lines
    assert above == note[:start]
    long = "filler line\n" * (LINES_ABOVE + 50) + chunk
    assert lines_above(long, long.index(chunk)) == "filler line\n" * LINES_ABOVE   # a bounded look back
    (unit, shown), = records(q("What data does pre-training require?"), chunk, above)
    assert chunk[unit.start:unit.end] == "| Pre-training | Large data sets | Extremely resource-intensive |"
    assert shown == "Pre-training - Data requirements: Large data sets; Considerations: Extremely resource-intensive"
    assert records(q("What data does RAG require?"), chunk, above) == []   # rows above the chunk are not its own
    assert [u.kind for u, _ in question_units(q("What data does pre-training require?"), chunk, above)].count(
        RECORD) == 1


def test_the_chain_quotes_a_row_whose_table_header_an_earlier_chunk_holds(make_chain_for):
    chain = make_chain_for({"llm.md": (
        "# LLM customization\n\n| Method | Data requirements | Considerations |\n|---|---|---|\n"
        "| RAG | External knowledge base | Longer prompts |\n\n## Pre-Training\n\n"
        "| Pre-training | Billions to trillions of tokens | Extremely resource-intensive |\n")})
    answer = chain.answer("What data requirements does pre-training have?")
    records = [e for e in answer.diagnostics["evidence"] if e["kind"] == RECORD]
    assert [e["text"] for e in records] == [
        "Pre-training - Data requirements: Billions to trillions of tokens; "
        "Considerations: Extremely resource-intensive"]
    assert "Billions to trillions of tokens" in answer.answer
