"""The answer JSON and search JSON are defined once (rag.core.types) and what the records write matches it."""
from dataclasses import fields

from pydantic import TypeAdapter

from rag.core.types import Answer, AnswerJSON, Chunk, Citation, CitationJSON, SearchResult, SearchResultJSON


def _answer() -> Answer:
    chunk = Chunk("a.md", "EMA", "EMA averages weights.", 3, 4, 10, 31, chunk_id="0123456789abcdef")
    result = SearchResult(chunk, 0.5, dense_score=0.7, bm25_score=1.2)
    citation = Citation(1, chunk.chunk_id, "a.md", "EMA", 3, 3, "EMA averages weights.")
    return Answer("what is EMA", "EMA averages weights [1].", False, [citation], [result], "extractive",
                  {"retrieve_s": 0.1, "first_token_s": 0.2, "total_s": 0.3}, {"mode": "extractive"})


def test_answer_to_dict_is_exactly_the_answer_json():
    data = _answer().to_dict()
    assert TypeAdapter(AnswerJSON).validate_python(data) == data   # no missing key, no key of the wrong type
    assert set(data) == set(AnswerJSON.__annotations__)            # and nothing outside the definition
    assert data["contexts"] == [{"chunk_id": "0123456789abcdef", "source": "a.md", "heading": "EMA",
                                 "text": "EMA averages weights.", "score": 0.5}]


def test_search_result_to_dict_is_exactly_a_search_json_row():
    row = _answer().contexts[0].to_dict()
    assert TypeAdapter(SearchResultJSON).validate_python(row) == row
    assert set(row) == set(SearchResultJSON.__annotations__)



def test_the_citation_record_and_its_json_list_the_same_fields_in_the_same_order():
    assert [f.name for f in fields(Citation)] == list(CitationJSON.__annotations__)
