"""Worlds the engine fine-tunes and scores policies in (one folder each), and their shared ground: the Domain
contract, the dataset format, Bradley-Terry labels, named settings, the process runtime."""
