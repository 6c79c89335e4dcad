"""provision export cloud-init of the proxy resource: apt's drop-in and its login as write_files
(the login 0600, and nowhere else: not in the header, the summary or the variables line), the
environment by env_file's first-boot edit, the JDKs' net.properties by the last command; Maven
and absent refused (exit 2). The last command is run by the real sh in tests/e2e/test_proxy.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import provision

SECRET = "Sekr3tzzQ"
FACTS = ("--facts", "os=debian-12,arch=amd64,wsl=0")


def playbook(tmp_path: Path, extra: str = "maven: false") -> Path:
    p = tmp_path / "p.yml"
    p.write_text(f"vars:\n  proxy_url: http://alice:{SECRET}@proxy.corp:3128\nresources:\n  - jdk: {{version: 17}}\n"
                 f"  - proxy: {{url: \"{{{{ proxy_url }}}}\", no_proxy: [localhost, .corp], {extra}}}\n")
    return p


def test_the_login_is_only_in_the_0600_file(tmp_path):
    r = provision("export", "cloud-init", str(playbook(tmp_path)), *FACTS)
    assert r.rc == 0, r
    header = [line for line in r.stdout.splitlines() if line.startswith("#")]
    assert not any(SECRET in line for line in header), header
    doc = yaml.safe_load(r.stdout)
    files = {f["path"]: f for f in doc["write_files"]}
    auth = files["/etc/apt/auth.conf.d/80provision-proxy.conf"]
    assert auth["permissions"] == "0600" and f"password {SECRET}\n" in auth["content"]
    conf = files["/etc/apt/apt.conf.d/80provision-proxy"]
    assert conf["permissions"] == "0644" and 'Acquire::https::Proxy "http://proxy.corp:3128/";' in conf["content"]
    assert SECRET not in conf["content"] and SECRET not in str(doc["runcmd"])
    env = next(c for c in doc["runcmd"] if "provision-env-file" in c)
    assert env[env.index("http_proxy") + 1] == "http://proxy.corp:3128"
    last = doc["runcmd"][-1]
    assert last[3] == "provision-proxy" and "http.nonProxyHosts=localhost|*.localhost|*.corp" in last[5]
    assert "jdk" in str(doc["runcmd"][-2])  # the JDK is set up first: the proxy's last command comes after


def test_maven_and_absent_are_refused(tmp_path):
    r = provision("export", "cloud-init", str(playbook(tmp_path, "maven_group: dev")), *FACTS)
    assert r.rc == 2 and "maven: false" in r.stderr and SECRET not in r.stderr, r
    r = provision("export", "cloud-init", str(playbook(tmp_path, "maven: false, state: absent")), *FACTS)
    assert r.rc == 2 and "state: absent" in r.stderr, r
