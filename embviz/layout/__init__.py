"""2-D layouts of a snapshot series: PCA, UMAP (with its joint refinement), t-SNE, and the trajectory cache."""
