"""Text in: corpora, the synthetic grammar, Chinese segmentation, tokenizers, the lexicon of categories."""
