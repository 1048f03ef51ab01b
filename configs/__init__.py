"""Shipped YAML configuration (recipes, sources, model and training configs)."""
