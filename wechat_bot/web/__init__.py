"""What a request tells about where it came from: the public URL, the visitor's address, and the per-client rate
limits."""
