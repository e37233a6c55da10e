"""Prometheus metrics: what an operator of a 公众号 watches (pushes inside 5 s, retries absorbed, renewal keeping up,
users who will need to authorize again), served at GET {prefix}/metrics, summed over every process."""
