"""Training (the only layer that imports torch): config and defaults, TinyGPT, the loop, the settle rule, torchrun, the Word2Vec probe."""
