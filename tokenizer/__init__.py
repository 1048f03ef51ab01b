"""Tokenizer layer: bilingual BPE training, loading, reports, and packing token shards."""
