"""Resource types, by the name used in playbooks."""

from __future__ import annotations

from provision.resources.apt import Apt
from provision.resources.base import ApplyContext, Resource, Spec
from provision.resources.env_file import EnvFile
from provision.resources.jdk import Jdk
from provision.resources.profile_script import ProfileScript
from provision.resources.template import Template
from provision.resources.wsl_conf import WslConf

REGISTRY: dict[str, type[Resource]] = {
    cls.type_name: cls for cls in (Apt, Jdk, EnvFile, ProfileScript, Template, WslConf)
}

__all__ = ["REGISTRY", "ApplyContext", "Resource", "Spec"]
