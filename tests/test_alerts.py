"""The shipped alert rules and scrape config (deploy/prometheus/) pass promtool, each alert fires in promtool's own
tests (tests/prometheus/alerts_test.yml), and every metric they name is one /metrics serves."""
import re
import shutil
import subprocess

from tests.conftest import project_root

RULES = project_root() / "deploy" / "prometheus" / "wechat_bot_alerts.yml"
CONFIG = project_root() / "deploy" / "prometheus" / "prometheus.yml"
RULE_TESTS = project_root() / "tests" / "prometheus" / "alerts_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess:
    found = shutil.which("promtool")
    assert found, "promtool is missing: install Debian's prometheus package (.ci/run does)"
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=120)


def test_the_rules_are_valid():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_in_promtools_tests():
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = set(re.findall(r"- alert: (\w+)", RULES.read_text()))
    fired = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", RULE_TESTS.read_text()))
    assert alerts == fired and len(alerts) == 5


def test_the_scrape_config_is_valid_and_loads_the_rules(tmp_path):
    key = tmp_path / "wechat_bot.key"
    key.write_text("k" * 40)
    (tmp_path / "prometheus.yml").write_text(CONFIG.read_text().replace("/etc/prometheus/wechat_bot.key", str(key)))
    shutil.copy(RULES, tmp_path / RULES.name)
    checked = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0 and "5 rules found" in checked.stdout, checked.stdout + checked.stderr


def test_every_metric_the_rules_name_is_served(app, wechat):
    assert wechat.says("你好").status == 200  # the push metrics exist once a push is counted
    served = app.test_client().get("/metrics").get_data(as_text=True)
    named = set(re.findall(r"wechat_bot_[a-z_]+", RULES.read_text()))
    assert named and all(re.search(rf"^{name}[{{ ]", served, re.M) for name in named), named
