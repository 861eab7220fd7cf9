"""The text world: synthetic text alignment with a hidden true reward and a length-biased labeller, its Domain."""
