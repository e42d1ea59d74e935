"""embviz in a notebook: the explorer page inline (``show``), and a live map of a run while it trains."""
