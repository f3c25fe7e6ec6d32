"""The Qdrant store: the same index, queries and filters on Qdrant (server or cluster by URL, or embedded local mode).

One collection per published version, reached through an alias that the writer swaps atomically; points are
the deduplicated chunks (named dense vectors per set, a BM25 sparse vector with Qdrant's IDF modifier, the
evidence-unit vectors as a multivector, the text and every location in the payload), one point per note (its
text and manifest row, no vectors) and one meta point (fingerprints, roots, counters).
"""
