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
PURE_HANDLER_SLOW = 0.2  # seconds: a pure handler slower than this is logged (it may be doing I/O)

# Redis calls on the request path must fail fast, so a push is still answered inside the window.
REDIS_SOCKET_TIMEOUT = 0.5
REDIS_CONNECT_TIMEOUT = 0.5
# Connections one process's Redis client may open (redis-py caps a pool at 100 and raises past it): enough for what
# one process runs at once: a gevent worker's 1,000 connections, the handler threads, renewal's concurrency (at most
# RENEWAL_CONCURRENCY_MAX), with room. They are opened only as needed; Redis's own limit (maxclients) is 10,000.
REDIS_POOL_SIZE = 2048

# A write a user would miss if a failover lost it (a link's state, a handler's retry record, a renewal's
# write-back) waits this long for a replica to confirm it (WAIT, within the socket timeout above); past it, the
# user gets the busy reply instead of a link that may die. Whether the master has replicas is asked this often,
# and a master that had one within REPLICA_MEMORY is still waited on (losing its replica is what a master being
# failed over or cut off looks like).
REPLICA_WAIT_MS = 200
REPLICA_CHECK_EVERY = 1.0
REPLICA_MEMORY = 60.0

# The default timestamp tolerance, in seconds, for WECHAT_TIMESTAMP_TOLERANCE.
TIMESTAMP_TOLERANCE = 300

# Passive text replies above 2048 UTF-8 bytes are silently dropped by WeChat.
MAX_TEXT_REPLY_BYTES = 2048

# Calls to WeChat's API: each attempt's timeout, the first pause before a retry (it grows with jitter), and
# the whole budget, kept short enough that a phone waiting on the callback page gets an answer.
WECHAT_TIMEOUT = 3.0
WECHAT_RETRY_FIRST = 0.2
WECHAT_RETRY_BUDGET = 8.0

# An authorize link works this long after it was sent in chat (WeChat's own codes last 5 minutes).
STATE_TTL = 15 * 60

# Authorize flows one client (IP address) may start from web pages per window: each keeps a state in Redis for
# STATE_TTL, so this bounds what one client can make Redis hold (60 a minute is far above a person's use).
LOGIN_RATE_LIMIT = 60
LOGIN_RATE_WINDOW = 60

# How long the outcome of a callback is kept: a second call with the same code (WeChat's Android client
# calls back twice) and a refresh of the result page both find it there.
CALLBACK_RESULT_TTL = 10 * 60

# WeChat's lifetimes: a user access_token lasts 2 hours, a refresh_token 30 days from consent, not extended.
ACCESS_TOKEN_LIFETIME = 7200
REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600

# Renew an access_token this long before it expires.
RENEWAL_MARGIN = 10 * 60

# A user's record outlives its refresh_token by this much, so "ask again" can still be told apart from "never seen".
RECORD_GRACE = 7 * 24 * 3600

# A refresh_token this close to its end is reported as "expiring": the user will soon be asked again.
EXPIRING_WITHIN = 3 * 24 * 3600

# The renewal worker: how often it looks for due tokens when nothing more is due (a full batch goes on at
# once), how long a claim on one user (and on a batch in the schedule) lasts if its worker dies, how long a
# failed renewal waits before it is tried again, and how long every worker pauses when WeChat says a quota is
# reached (45009 daily, 45011 per minute: "retry next minute").
RENEWAL_INTERVAL = 5.0
RENEWAL_LEASE_TTL = 60.0
RENEWAL_RETRY_AFTER = 30
RENEWAL_QUOTA_PAUSE = 60.0
# A user whose renewal keeps failing waits as long again as it has been failing (30 s, 60 s, 120 s) up to this,
# but one last try always comes this long before its access_token ends, so a short outage costs no user a token.
# Across users, the circuit below keeps a WeChat that is down from being called by every user's retries.
RENEWAL_RETRY_MAX = 120
RENEWAL_LAST_TRY = 60
# One renewal attempt makes at most this many calls to WeChat, each waiting this long for an answer, and each
# drawn from the shared per-second budget (RENEWAL_RATE_SHARED), retries included. WeChat answers a refresh in
# well under a second; 3 s was seen under load, so 6 s leaves room without redoing refreshes WeChat is still
# answering. The worst attempt is then 2 × 6 s + a pause under 1 s: far inside the 60 s lease, and nobody waits
# on it (a user's own on-demand renewal keeps the client's shorter WECHAT_TIMEOUT and WECHAT_RETRY_BUDGET).
RENEWAL_CALL_ATTEMPTS = 2
RENEWAL_CALL_TIMEOUT = 6.0
# This many failed renewals in a row, across users and workers, open the circuit: renewals stop but for one
# probe at a time (one every RENEWAL_INTERVAL at most per worker; the user failing longest when nobody is due),
# until one succeeds and closes it again; then every user waiting to retry is due at once.
RENEWAL_CIRCUIT_FAILURES = 5
# /healthz answers 503 once every renewal has failed for this long (none succeeded since the first failure).
RENEWAL_FAILING_FOR = 60.0
# Errors no retry heals (an untrusted certificate, 40125 wrong AppSecret, 40164 IP not whitelisted) stop every
# worker's renewals this long; then one probe, and one log line, a period until the operator fixes it.
RENEWAL_HALT_RECHECK = 60.0
# Per worker process (WECHAT_RENEWAL_RATE, WECHAT_RENEWAL_CONCURRENCY): refreshes started a second, and in flight
# at once. A refresh holds its thread for WeChat's round trip, so what one process renews a second is about
# concurrency / latency, up to the rate: with 64 and 250, bench/renewal.py measured 250/s at 50 and 100 ms and
# 211/s at 300 ms (1.4 million users a worker), at 1.1 ms of the worker's CPU a renewal whatever the latency.
RENEWAL_RATE = 250
RENEWAL_CONCURRENCY = 64
RENEWAL_CONCURRENCY_MAX = 512
# WeChat allows 50,000 sns/oauth2/refresh_token calls a minute per account. All workers together start at most
# this many a second, counted in Redis per second: any 60 s then holds at most 45,750 of them, leaving room for
# on-demand renewals (`wechat.user(openid).access_token`) and for clocks that disagree.
RENEWAL_RATE_SHARED = 750
# A sweep claims this many seconds of work at the process's rate: enough that its pipelines (claim, leases,
# records, the batch's end) cost little a renewal; little enough that a batch held back by the shared budget
# still starts well within its 60 s claim, and that a stopped worker hands back a small batch.
RENEWAL_BATCH_SECONDS = 2.0
# After a failed sweep (Redis down or stalled) the worker waits twice as long each time, up to this.
RENEWAL_BACKOFF_MAX = 30.0
# /healthz says renewal has stopped when no sweep completed for this long (sweeps come every 5 s; a Redis
# outage makes them back off to 30 s).
RENEWAL_STALE_AFTER = 120.0
# The worker logs at most this often that renewal is behind (the oldest due user has waited past RENEWAL_MARGIN).
RENEWAL_BEHIND_LOG_EVERY = 60.0

# Fetch a new account access_token once the cached one has less than this left (stable_token rolls over
# 5 minutes before expiry, keeping the old one valid for those 5 minutes).
ACCOUNT_TOKEN_MARGIN = 300

# The JS-SDK's jsapi_ticket (WeChat gives 7200 s): fetched anew once the cached one has less than this left, so no
# signature is made with a ticket about to run out while a page is still calling wx.config with it.
JSAPI_TICKET_MARGIN = 300
# The fetcher's lease covers the account token's fetch and the ticket's, each within its retry budget.
JSAPI_TICKET_LEASE_TTL = 2 * WECHAT_RETRY_BUDGET + 5
# WeChat's JS-SDK, for a page to load before /jssdk/wx.js (the sandbox serves its own stand-in instead).
JWEIXIN_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"

# Scan to sign in: how long a code shown on a desktop lives (WeChat allows up to 30 days; a person scans within
# minutes, and an unscanned code must not keep Redis growing), how many codes one visitor may ask for per window
# (each spends the account's qrcode/create quota), how many short codes one user may send in chat per window, and
# how long the answer to "may this account make parametric codes?" is believed.
QR_TTL = 300
QR_RATE_LIMIT = 20
QR_RATE_WINDOW = 60
QR_CHAT_CODE_LIMIT = 10
QR_CHAT_CODE_MISSES = 30  # wrong chat codes a minute from all users together, before chat codes pause
QR_CAPABILITY_TTL = 24 * 3600
# A browser signed in by scan stays signed in this long at most (kept server-side, so the phone can end it sooner),
# and one user keeps at most this many such browsers: the oldest is signed out by a new one.
QR_SESSION_TTL = 30 * 24 * 3600
QR_SESSIONS_PER_USER = 10

# The token service: calls one caller may make a minute (a system asks for a token when it starts and when WeChat
# refuses one, not per request; this bounds one misbehaving caller).
TOKEN_SERVICE_RATE_LIMIT = 600
TOKEN_SERVICE_RATE_WINDOW = 60
# Forced account-token renewals one caller of the token service may cause a day (UTC): WeChat allows the account 20,
# so one system that reports every token it gets cannot spend the day's for the others (README: at most 4 systems).
TOKEN_SERVICE_FORCES_PER_CALLER = 5

# WeChat allows stable_token with force_refresh every 30 s and 20 times a day; a reported token is renewed by force
# within those (the token service's POST /api/account-token/invalid), and kept past them.
ACCOUNT_TOKEN_FORCE_GAP = 30
ACCOUNT_TOKEN_FORCES_A_DAY = 20
