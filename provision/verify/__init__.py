"""``provision verify``: testinfra proves the end state, from the same playbook.

- ``checks``: per resource type, the checks of its desired state (a registry keyed by type),
  plus the playbook's own ``checks:`` items.
- ``backend``: a testinfra backend over our connections (our host-key policy and sudo).
- ``runner``: resolve each host's resources as apply does, run the checks, hosts in parallel.
- ``usertests``: the user's own testinfra files (``--tests DIR``) against the same hosts.
- ``output``: summary (stderr), JSON document, JUnit XML.
"""

from __future__ import annotations

from provision.verify.runner import CheckResult, HostReport, VerifyOptions, plan_checks, verify

__all__ = ["CheckResult", "HostReport", "VerifyOptions", "plan_checks", "verify"]
