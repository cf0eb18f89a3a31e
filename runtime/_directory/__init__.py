"""Where messages are addressed: the registry, topics, dead letters and exchanges."""
