"""Proposers: the DiscoPOP loop (LLM, symbolic or replayed loss code) on the MJX evaluator, with a sandbox."""
