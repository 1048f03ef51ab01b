"""Model layer: SymbolicLight V1, the GPT-2 baseline, Lightning training and evaluation."""
