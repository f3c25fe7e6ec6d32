"""Service-layer logic behind the thin routers: generation queue, SSE, auth, limits, errors, notes."""
