"""Runnable programs: `hello` (one node) and `shop` (the multi-node sample cluster)."""
