"""Other tools' files: reading other trainers' checkpoints (import) and writing for TensorBoard, word2vec and NumPy (export)."""
