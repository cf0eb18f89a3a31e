"""Bytes <-> typed frames: framing, the message codec, the handshake, link I/O.

It imports nothing else of `runtime` and knows nothing of actors or the cluster: refs
are encoded and decoded through callables the cluster passes in.
"""
