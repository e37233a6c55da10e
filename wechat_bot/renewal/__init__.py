"""Keeping users' access_tokens alive: the worker loop, its batches, the shared quota and the circuit that stops
hammering a failing WeChat."""
