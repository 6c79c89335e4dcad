"""``provision verify``: testinfra proves the end state, from the same playbook.

- ``checks``: the Check type and the building blocks resource types make their checks from.
- ``custom``: the playbook's own ``checks:`` items.
- ``backend``: a testinfra backend over our connections (our host-key policy and sudo).
- ``runner``: resolve each host's resources as apply does (the engine's loop), run the checks.
- ``usertests``: the user's own testinfra files (``--tests DIR``) against the same hosts.
- ``results``: what a check and a host's verification found (read by all of the above).
- ``output``: summary (stderr), JSON document, JUnit XML.
"""
