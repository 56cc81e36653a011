"""Knobs: compare LLM generation settings side by side."""
