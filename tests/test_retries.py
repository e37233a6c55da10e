"""WeChat's retries: one handler run per push, the same body for every delivery, on any worker."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import AES_KEY, APPID, CREDENTIALS, NOWHERE, TOKEN
from tests.wechat_client import WeChat, flask_transport, push_xml
from wechat_bot import create_app
from wechat_bot.handlers import Router


@pytest.fixture
def counted():
    """A router whose handler counts its runs, optionally slowly, and says which run this is."""
    router, runs, lock = Router(), [], threading.Lock()
    router.delay = 0.0

    @router.on()
    def count(msg):
        with lock:
            runs.append(msg)
            n = len(runs)
        time.sleep(router.delay)
        return f"run {n}"
    return router, runs


def test_a_retried_message_runs_once_and_gets_the_same_body(make_app, counted):
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    fields, query = wechat.fields("text", Content="hi"), wechat.query()
    bodies = {wechat.deliver(fields, query=query).body for _ in range(4)}
    assert len(runs) == 1 and len(bodies) == 1 and b"run 1" in bodies.pop()


def test_a_retry_in_safe_mode_is_byte_identical(make_app, counted):
    router, runs = counted
    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY}, router=router)
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID, aes_key=AES_KEY)
    fields, query = wechat.fields("text", Content="hi"), wechat.query()
    body, sealed_query = wechat.seal(push_xml(fields).encode(), query, AES_KEY)  # WeChat resends the same bytes
    first = wechat.deliver(body, query=sealed_query, encrypted=False)
    again = wechat.deliver(body, query=sealed_query, encrypted=False)
    assert first.body == again.body and first.content == "run 1" and len(runs) == 1


def test_new_messages_each_run_the_handler(make_app, counted):
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    assert [wechat.says("hi").content for _ in range(3)] == ["run 1", "run 2", "run 3"]


def test_events_are_recognised_by_sender_time_event_and_key(make_app, counted):
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    click = wechat.fields("event", Event="CLICK", EventKey="A", CreateTime=1_700_000_000)
    query = wechat.query()  # WeChat resends a push with the identical query string
    assert wechat.deliver(click, query=query).content == "run 1"
    assert wechat.deliver(click, query=query).content == "run 1"
    assert wechat.deliver({**click, "EventKey": "B"}).content == "run 2"
    assert wechat.deliver({**click, "CreateTime": 1_700_000_001}).content == "run 3"
    assert wechat.deliver({**click, "FromUserName": "o_bob"}).content == "run 4"


def test_two_users_pushes_with_one_msgid_each_get_their_own_answer(make_app, counted):
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    alice = wechat.deliver(wechat.fields("text", Content="hi", MsgId=42))
    bob = wechat.deliver({**wechat.fields("text", Content="hi", MsgId=42), "FromUserName": "o_bob"})
    assert (alice.content, bob.content) == ("run 1", "run 2")
    assert bob.fields["ToUserName"] == "o_bob" and alice.fields["ToUserName"] == "o_alice"


@pytest.mark.parametrize("content", ["hi", "登录"])  # a handler that is not pure, and a pure one
def test_a_signed_query_reused_with_another_body_is_refused(make_app, counted, content, redis):
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router if content == "hi" else None).test_client()),
                    TOKEN, APPID)
    query = wechat.query()
    genuine = wechat.fields("text", Content=content)
    first = wechat.deliver(genuine, query=query)
    kept = sorted(redis.keys(f"wechat_bot:{APPID}:oauth:state:*")), len(redis.keys(f"wechat_bot:{APPID}:push:*"))
    forged = wechat.deliver({**genuine, "FromUserName": "o_mallory", "MsgId": 7}, query=query)
    if content == "登录":  # the refused body leaves no link state and no reply behind
        states, pushes = redis.keys(f"wechat_bot:{APPID}:oauth:state:*"), redis.keys(f"wechat_bot:{APPID}:push:*")
        assert (sorted(states), len(pushes)) == kept
    again = wechat.deliver(genuine, query=query)
    assert first.status == 200 and forged.status == 403 and again.body == first.body


def test_a_retry_on_another_worker_gets_the_first_workers_body(make_app, counted):
    router, runs = counted
    worker_1 = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    worker_2 = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    fields, query = worker_1.fields("text", Content="hi"), worker_1.query()
    assert worker_1.deliver(fields, query=query).body == worker_2.deliver(fields, query=query).body
    assert len(runs) == 1


def test_concurrent_deliveries_run_the_handler_once_and_get_one_body(make_app, counted, http_wechat):
    router, runs = counted
    router.delay = 0.3
    wechat = http_wechat(make_app(router=router))
    fields, query = wechat.fields("text", Content="hi"), wechat.query()
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: wechat.deliver(fields, query=query), range(3)))
    assert [r.status for r in replies] == [200, 200, 200]
    assert len({r.body for r in replies}) == 1 and replies[0].content == "run 1"
    assert len(runs) == 1


def test_with_redis_down_pushes_are_still_answered(counted, push_log, tmp_path):
    router, runs = counted
    app = create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": f"unix://{tmp_path}/nothing.sock"}, router=router)
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    reply = wechat.says("hi")
    assert reply.status == 200 and reply.content == "run 1"
    assert "retry cache unavailable" in push_log.text
    assert app.test_client().get("/healthz").status_code == 503


def test_retry_cache_entries_expire(make_app, counted, redis):
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    wechat.says("hi")
    keys = redis.keys(f"wechat_bot:{APPID}:push:*")
    assert len(keys) == 2 and all(0 < redis.ttl(key) <= 600 for key in keys)  # the reply, the query's binding


def _state_keys(redis) -> list:
    return redis.keys(f"wechat_bot:{APPID}:oauth:state:*")


def _state(key: bytes) -> str:
    """The state a key holds: the key is the state with its slot tag in braces."""
    return key.decode().rsplit(":", 1)[1].replace("{", "").replace("}", "")


def test_a_retried_login_link_keeps_the_first_state_only(make_app, redis):
    wechat = WeChat(flask_transport(make_app().test_client()), TOKEN, APPID)
    fields, query = wechat.fields("text", Content="登录"), wechat.query()
    bodies = {wechat.deliver(fields, query=query).body for _ in range(3)}
    assert len(bodies) == 1
    [key] = _state_keys(redis)
    assert _state(key).encode() in bodies.pop()


def test_concurrent_deliveries_to_a_pure_handler_get_one_body_and_one_state(make_app, redis, http_wechat):
    router = Router()

    @router.text(pure=True)
    def slow_link(msg, ctx):
        link = ctx.links.base(msg.source)
        time.sleep(0.3)
        return link
    wechat = http_wechat(make_app(router=router))
    fields, query = wechat.fields("text", Content="hi"), wechat.query()
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: wechat.deliver(fields, query=query), range(3)))
    assert [r.status for r in replies] == [200, 200, 200] and len({r.body for r in replies}) == 1
    [key] = _state_keys(redis)
    assert _state(key) in replies[0].content


def test_a_pure_push_costs_one_redis_round_trip(make_app, redis, monkeypatch):
    import socket

    wechat = WeChat(flask_transport(make_app().test_client()), TOKEN, APPID)
    wechat.says("登录")  # the first push loads the script
    sends, original = [], socket.socket.sendall
    monkeypatch.setattr(socket.socket, "sendall",
                        lambda self, data, *flags: (sends.append(bytes(data)[:60].decode("latin-1")),
                                                    original(self, data, *flags))[1])
    with redis.monitor() as monitor:
        sends.clear()
        assert wechat.says("登录").status == 200
        pushed = len([s for s in sends if "HELLO" not in s and "CLIENT" not in s])  # not a new connection's hello
        redis.echo("end of push")
        sent = []
        for entry in monitor.listen():
            if entry["command"] == "ECHO end of push":
                break
            name = entry["command"].split()[0]
            if entry["client_type"] != "lua" and name not in ("HELLO", "CLIENT"):  # not a script's, not a hello
                sent.append(name)
    assert pushed == 1, sends  # one write to Redis's socket: one round trip
    # the user's re-authorize marker, the query's binding (its own slot), then one transaction in the message's slot
    assert sent == ["GET", "SET", "GET", "MULTI", "SET", "SET", "GET", "EXEC"]


def test_a_busy_connection_is_not_pinged_between_pushes(make_app, redis):
    """redis-py's health check PINGs a connection idle for health_check_interval, not one that pushes keep busy."""
    import redis as redis_py

    client = redis_py.Redis(unix_socket_path=redis.connection_pool.connection_kwargs["path"], health_check_interval=1)
    wechat = WeChat(flask_transport(make_app(redis=client).test_client()), TOKEN, APPID)

    def pings():
        return redis.info("commandstats").get("cmdstat_ping", {}).get("calls", 0)

    before, pushes, until = pings(), 0, time.monotonic() + 2.5
    while time.monotonic() < until:
        assert wechat.says("登录").status == 200
        pushes += 1
    assert pings() - before == 1, f"{pings() - before} PINGs over {pushes} pushes"  # the new connection's only


def test_a_pure_handler_that_passes_hands_over_to_one_run_of_the_next(make_app, counted, http_wechat):
    router, runs = counted
    router.delay = 0.3
    first = Router()

    @first.text(pure=True)
    def only_help(msg):
        return "help" if msg.content == "help" else None
    first.include(router)
    wechat = http_wechat(make_app(router=first))
    fields, query = wechat.fields("text", Content="hi"), wechat.query()
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: wechat.deliver(fields, query=query), range(3)))
    assert {r.content for r in replies} == {"run 1"} and len(runs) == 1
    assert wechat.says("help").content == "help" and len(runs) == 1


def test_a_slow_pure_handler_is_logged(make_app, push_log):
    router = Router()

    @router.text(pure=True)
    def not_so_pure(msg):
        time.sleep(0.25)
        return "done"
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    assert wechat.says("hi").content == "done"
    assert "pure handler not_so_pure took" in push_log.text


def test_pushes_survive_redis_forgetting_its_scripts(make_app, counted, redis):
    """After a Redis restart or failover the script cache is empty (NOSCRIPT): what uses a script loads it again."""
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    assert wechat.says("hi").content == "run 1"
    redis.script_flush()
    assert wechat.says("hi").content == "run 2"  # a handler that is not pure: its bound claim
    writer = Router()

    @writer.keyword("count", pure=True)
    def count_asked(msg, ctx):  # a pure handler with a write of its own: its commit is a script
        ctx.writes.add("INCR", "test:asked")
        return "counted"
    pure = WeChat(flask_transport(make_app(router=writer).test_client()), TOKEN, APPID)
    redis.script_flush()
    assert pure.says("count").content == "counted" and redis.get("test:asked") == b"1"


def test_a_redis_error_in_the_claim_is_answered_without_retry_protection_not_refused(make_app, counted, redis,
                                                                                      push_log):
    """A key of the wrong type where the claim looks (a stray write by other software): Redis answers WRONGTYPE,
    which is a Redis failure (the push is still answered), not a forged body (a 403)."""
    import hashlib

    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    query = wechat.query()
    digest = hashlib.sha1(f"{query['signature']}|{query['timestamp']}|{query['nonce']}".encode()).hexdigest()[:20]
    redis.hset(f"wechat_bot:{APPID}:push:{{{digest}}}:body", "stray", "1")
    reply = wechat.deliver(wechat.fields("text", Content="hi"), query=query)
    assert reply.status == 200 and reply.content == "run 1"
    assert "answering" in push_log.text and "without retry protection" in push_log.text


@pytest.mark.parametrize("kind", ["text", "event"])
def test_a_retry_signed_with_a_new_nonce_runs_once_and_gets_the_same_body(make_app, counted, kind):
    """WeChat's advice is to recognise a retry by the message (MsgId; sender + CreateTime for events), not by
    the query it came with: that the query is kept is one observation, not a promise."""
    router, runs = counted
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    fields = wechat.fields("text", Content="hi") if kind == "text" else wechat.fields("event", Event="CLICK",
                                                                                      EventKey="A")
    bodies = {wechat.deliver(fields, query=wechat.query(nonce=f"n{n}")).body for n in range(3)}
    assert len(runs) == 1 and len(bodies) == 1


def test_concurrent_logins_with_new_nonces_get_one_link(make_app, redis, http_wechat):
    wechat = http_wechat(make_app())
    fields = wechat.fields("text", Content="登录")
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda n: wechat.deliver(fields, query=wechat.query(nonce=f"c{n}")), range(3)))
    assert [r.status for r in replies] == [200, 200, 200]
    assert len({r.content for r in replies}) == 1 and "点此登录" in replies[0].content
    assert len(redis.keys(f"wechat_bot:{APPID}:oauth:state:*")) == 1
