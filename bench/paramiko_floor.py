#!/usr/bin/env python3
"""The paramiko floor of bench/run.py: one Python process, one thread and one paramiko connection
per host, each running the bench's ``<check> || <fix>`` once, with the host key checked against
the fleet's known_hosts (what pyinfra and provision's paramiko transport do, and nothing else).

    paramiko_floor.py KEY KNOWN_HOSTS JOB NAME=ADDRESS...

Prints each host's output; a host that fails prints ``FAILED <name>`` and the exit status is 1."""

from __future__ import annotations

import sys
import threading

import paramiko


def run(name: str, address: str, key: paramiko.PKey, known_hosts: str, job: str, out: dict[str, str]) -> None:
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(address, username="root", pkey=key, allow_agent=False, look_for_keys=False, timeout=30)
        _, stdout, stderr = client.exec_command(job)
        text = stdout.read().decode() + stderr.read().decode()
        out[name] = text if stdout.channel.recv_exit_status() == 0 else f"FAILED {name}\n{text}"
    except Exception as exc:  # noqa: BLE001 - a host that fails is reported, the others go on
        out[name] = f"FAILED {name}: {exc!r}\n"
    finally:
        client.close()


def main() -> int:
    key_file, known_hosts, job, *hosts = sys.argv[1:]
    key = paramiko.Ed25519Key.from_private_key_file(key_file)
    out: dict[str, str] = {}
    threads = [threading.Thread(target=run, args=(*h.split("=", 1), key, known_hosts, job, out)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdout.write("".join(out[h.split("=", 1)[0]] for h in hosts))
    return 1 if any(text.startswith("FAILED") for text in out.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
