"""Magnetic Preference Optimization (arXiv 2410.16714) on finite preference games: exact learners, sampled learners, the report."""
