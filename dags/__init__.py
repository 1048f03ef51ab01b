"""Top layer: the stage graph, its runners, and the `symboliclight` command line."""
