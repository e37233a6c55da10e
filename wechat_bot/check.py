"""`python run.py check`: is the configuration one WeChat will accept, and what to paste into the admin panel."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from redis import Redis

from . import defaults, secret_key
from .config import PANEL_NAMES, Settings
from .endpoint.signature import sign
from .errors import WeChatError, WeChatUnavailable
from .oauth.tokens import TokenStore
from .qr_login.codes import capability
from .renewal.circuit import RenewalCircuit
from .storage.connection import probe
from .storage.replica_acks import ReplicaAcks
from .verify_file import code_of
from .web.public_url import discover_tunnel
from .wechat_api import WeChatClient

HINTS = {
    40013: "WECHAT_APPID is not this account's AppID",
    40125: "WECHAT_SECRET is not this account's AppSecret",
    40164: "this machine's IP is not on the account's IP whitelist (基本配置 → IP白名单)",
    40243: "the AppSecret is frozen",
}


@dataclass
class Report:
    paste: list[tuple[str, str]] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        out = []
        if self.paste:  # the heading only above something to paste
            out.append("Paste into the admin panel "
                       "(设置与开发 → 基本配置; 接口权限 → 网页授权; 公众号设置 → 功能设置):")
            out += [f"  {name}: {value}" for name, value in self.paste]
        out += [f"ok    {line}" for line in self.passed]
        out += [f"warn  {line}" for line in self.warnings]
        out += [f"FAIL  {line}" for line in self.failures]
        out.append("verdict: " + ("WeChat should accept this configuration" if self.ok
                                  else f"{len(self.failures)} problem(s) WeChat would refuse or fail on"))
        return out


def run_checks(settings: Settings, redis: Redis, *, port: int = 5000, online: bool = False) -> Report:
    report = Report()
    if settings.missing_credentials:
        return sandbox_report(f"{', '.join(settings.missing_credentials)} not set: this is the sandbox, there is "
                              "nothing to paste into a real account", redis, _sandbox_appid(settings))
    public = settings.public_base_url or discover_tunnel(settings.ngrok_api_url, port)
    if public is None:
        report.failures.append(f"no public URL: set PUBLIC_BASE_URL, or start the ngrok tunnel to port {port} "
                               f"(its agent at {settings.ngrok_api_url} did not answer with one; --port P if the "
                               "server listens on another port)")
    else:
        _describe_url(public, settings, report)
        _handshake(f"{public}{settings.url_prefix}/wechat", settings.account.token, report)
        _verify_file(public, settings.verify_file, report)
    if _redis(redis, settings.account.appid, report):
        _qr_login(settings, redis, report)
        _renewal_backlog(redis, settings.account.appid, report)
        report.passed.append(secret_key.source(redis, settings.account.appid, settings.var_dir,
                                               configured=bool(settings.secret_key)))
    if online:
        _credentials(settings, report)
    return report


def sandbox_report(why: str, redis: Redis, appid: str) -> Report:
    """The sandbox has nothing to paste into an admin panel (`why`), but its Redis and renewal are real."""
    report = Report()
    report.failures.append(why)
    if _redis(redis, appid, report):
        _renewal_backlog(redis, appid, report)
    return report


def _sandbox_appid(settings: Settings) -> str:
    from .sandbox import credentials

    return credentials.load_or_create(settings.var_dir)["WECHAT_APPID"]


def _redis(redis: Redis, appid: str, report: Report) -> bool:
    acks = ReplicaAcks(redis, appid)
    problem = probe(redis, appid) or acks.isolated()
    if problem is None:
        report.passed.append("Redis takes writes")
        _replication(acks, report)
    else:
        report.failures.append(f"Redis {problem}")
    return problem is None


def _replication(acks: ReplicaAcks, report: Report) -> None:
    """A master with replicas should refuse writes no replica receives: else a failover loses what it took."""
    replicas, _ = acks.replicas()
    if not replicas:
        return
    setting = acks.min_replicas_to_write()
    if setting == 0:
        report.warnings.append(
            f"Redis: the master has {replicas} replica(s) but min-replicas-to-write is 0, so a master being failed "
            "over or cut off keeps taking writes that the failover then loses; wechat_bot waits for a replica on the "
            "writes users would miss (links, retry records, renewals), but set min-replicas-to-write 1 and "
            "min-replicas-max-lag 10 on every node so Redis refuses the rest too")
    elif setting:
        report.passed.append(f"Redis: {replicas} replica(s), min-replicas-to-write {setting}")


def _qr_login(settings: Settings, redis: Redis, report: Report) -> None:
    """What scan to sign in shows desktops: decided by the first qrcode/create, remembered for a day."""
    if not settings.qr_login:
        report.passed.append("scan to sign in is off (WECHAT_QR_LOGIN=off): desktops are told to open WeChat")
        return
    found = capability(redis, settings.account.appid)
    if found == "qr":
        report.passed.append("scan to sign in: the account makes parametric QR codes (a verified 服务号)")
    elif found == "chat":
        report.warnings.append("scan to sign in: WeChat refused parametric QR codes (48001: a 订阅号 or an "
                               "unverified account), so desktops show a short code to send in chat instead"
                               + ("" if settings.account_name else "; set WECHAT_ACCOUNT_NAME so the page names the "
                                  "account to send it to"))
    else:
        report.passed.append("scan to sign in: not tried yet; the first desktop sign-in asks WeChat for a QR code "
                             "and falls back to a code sent in chat if the account may not make them")


def _renewal_backlog(redis: Redis, appid: str, report: Report) -> None:
    """Does renewal keep up: users due and not yet renewed, how long the oldest has waited since first due, and
    whether renewals reach WeChat."""
    said, failing = RenewalCircuit(redis, appid).state().health(time.time())
    if said != "ok":
        (report.failures if failing else report.warnings).append(f"renewal: {said}")
    backlog, lag = TokenStore(redis, appid).backlog(time.time())
    said = f"renewal: {backlog} user(s) due, the oldest waiting {lag:.0f}s"
    if lag > defaults.RENEWAL_MARGIN:
        report.warnings.append(f"{said}, past the {defaults.RENEWAL_MARGIN}s margin: access_tokens expire before "
                               "they are renewed (start `run.py worker`, add workers, or raise WECHAT_RENEWAL_RATE)")
    else:
        report.passed.append(f"{said} (within the {defaults.RENEWAL_MARGIN}s margin)")


def _describe_url(public: str, settings: Settings, report: Report) -> None:
    parts = urlsplit(public)
    report.paste += [
        ("URL(服务器地址)", f"{public}{settings.url_prefix}/wechat"),
        ("Token(令牌)", settings.account.token),
        ("EncodingAESKey(消息加解密密钥)", settings.aes_key or "(not set: leave the panel's value)"),
        ("消息加解密方式", PANEL_NAMES[settings.encryption]),
        ("网页授权域名", parts.hostname or ""),
        ("JS接口安全域名", parts.hostname or ""),
    ]
    if parts.scheme != "https":
        report.failures.append(f"{public} is http: the authorize redirect_uri should be https, and tunnels give https")
    if parts.port and parts.port not in (80, 443):
        report.failures.append(f"{public} has port {parts.port}: WeChat accepts only 80 and 443, and the "
                               "网页授权域名 must carry no port (error 10003)")
    if parts.path not in ("", "/"):
        report.warnings.append(f"{public} has a path ({parts.path}): the 网页授权域名 covers the host only")
    if settings.encryption == "compatible":
        report.warnings.append("compatible mode also answers plaintext pushes, which the Token alone signs; once the "
                               "panel says 安全模式, set WECHAT_ENCRYPTION=safe so a forged plaintext push is refused")


def _handshake(endpoint: str, token: str, report: Report) -> None:
    """The URL check exactly as WeChat performs it: a signed GET whose echostr must come back verbatim."""
    timestamp, nonce, echostr = str(int(time.time())), str(secrets.randbelow(10**9)), secrets.token_hex(8)
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
    try:
        response = requests.get(endpoint, params=params, timeout=5)
    except requests.RequestException as error:
        report.failures.append(f"handshake: {endpoint} did not answer ({type(error).__name__}); is the server "
                               "running and the tunnel up?")
        return
    if response.status_code == 200 and response.text == echostr:
        report.passed.append(f"handshake: {endpoint} echoed echostr, as WeChat requires")
    else:
        report.failures.append(f"handshake: {endpoint} answered HTTP {response.status_code} without echostr "
                               "(a server with another Token, or not this server)")


def _verify_file(public: str, name: str | None, report: Report) -> None:
    """WeChat fetches https://DOMAIN/MP_verify_<code>.txt, at the domain's root, before it saves either domain."""
    if not name:
        report.warnings.append("WECHAT_VERIFY_FILE not set: to save the 网页授权域名 or JS接口安全域名 the admin panel "
                               "asks for MP_verify_<code>.txt at the domain's root; set WECHAT_VERIFY_FILE to its name "
                               "and this server answers it")
        return
    parts = urlsplit(public)
    url = f"{parts.scheme}://{parts.netloc}/{name}"
    try:
        response = requests.get(url, timeout=5, allow_redirects=False)
    except requests.RequestException as error:
        report.failures.append(f"verification file: {url} did not answer ({type(error).__name__})")
        return
    if response.status_code == 200 and response.text.strip() == code_of(name):
        report.passed.append(f"verification file: {url} answers its code, as WeChat checks before saving a domain")
    else:
        report.failures.append(f"verification file: {url} answered HTTP {response.status_code} without the code "
                               "(is this server the one at the domain's root?)")


def _credentials(settings: Settings, report: Report) -> None:
    account = settings.account
    client = WeChatClient(settings.api_base, settings.open_base, account.appid, account.secret, budget=5)
    try:
        client.stable_token()
        report.passed.append("AppID and AppSecret accepted by WeChat (stable_token)")
    except WeChatError as error:
        report.failures.append(f"stable_token refused: {error.errcode} — {HINTS.get(error.errcode, error.errmsg)}")
    except WeChatUnavailable as error:
        report.failures.append(f"stable_token: {error}")
