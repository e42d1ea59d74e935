"""Measures on matrices (numpy only): kNN, purity, CKA, geometry, Procrustes, word-pair scores, emergence per snapshot."""
