"""The chat endpoint documents the answer JSON of rag.core.types, not a copy of it."""
from rag.core.settings import load_settings
from rag.core.types import AnswerJSON
from serve.app import create_app


def test_the_chat_endpoint_documents_the_same_answer_json():
    schema = create_app(load_settings(env={})).openapi()
    ok = schema["paths"]["/chat"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AnswerJSON"}
    assert set(schema["components"]["schemas"]["AnswerJSON"]["properties"]) == set(AnswerJSON.__annotations__)
