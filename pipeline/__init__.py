"""Data layer: sources, the document schema, artifacts and manifests, and the data stages."""
