"""Nodes linked over TCP: links, membership, the failure detector, remote refs and delivery."""
