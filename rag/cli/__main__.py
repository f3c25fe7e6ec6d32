"""`python -m rag.cli COMMAND ...`: the same as the `rag` console script."""
from rag.cli.main import script

script()
