"""Thin FastAPI routers; the work happens in serve.services and the chain."""
