"""The Word2Vec baseline on a run's own tokens and the comparison report."""
