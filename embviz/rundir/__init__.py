"""The run directory: its layout, manifest, snapshot index and atomic writes; every stage reads and writes through it."""
