"""Answering: the transport-free handler, the RFC walk through a zone, per-process memos."""
