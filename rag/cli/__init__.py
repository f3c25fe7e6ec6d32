"""The command-line edge: console scripts `rag` and `ask` and their subcommands; the only rag package that imports
ingest, serve and eval, and nothing imports it."""
