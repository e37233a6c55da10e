"""Tunables, in one place, each with the reason for its value."""

# WeChat drops a push it has no answer to after 5 s; answering by 4.5 s leaves room for the network.
REPLY_DEADLINE = 4.5

# A genuine push is a few KiB at most (a 2048-byte text, encrypted and base64'd); anything far larger is not WeChat.
MAX_PUSH_BYTES = 64 * 1024

# How long a push's reply is remembered for its retries. WeChat retries within seconds; the floor also
# covers a signed push replayed within WECHAT_TIMESTAMP_TOLERANCE (the cache lives at least twice that).
REPLY_CACHE_TTL = 600

# A delivery in progress holds its push this long; a worker killed mid-handler frees it for a retry.
PENDING_TTL = 10

# First and last sleep while a retry waits for the delivery in progress to finish.
RETRY_POLL_FIRST = 0.005
RETRY_POLL_MAX = 0.1

# Handler threads per process: a handler that overruns keeps its thread until it returns.
HANDLER_THREADS = 16

# Redis calls on the request path must fail fast, so a push is still answered inside the window.
REDIS_SOCKET_TIMEOUT = 0.5
REDIS_CONNECT_TIMEOUT = 0.5

# The default timestamp tolerance, in seconds, for WECHAT_TIMESTAMP_TOLERANCE.
TIMESTAMP_TOLERANCE = 300

# Passive text replies above 2048 UTF-8 bytes are silently dropped by WeChat.
MAX_TEXT_REPLY_BYTES = 2048
