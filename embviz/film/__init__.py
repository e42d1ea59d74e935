"""What a person sees: animate's stages, the film and figures, fonts, and the explorer page."""
