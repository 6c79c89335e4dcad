"""What ``provision export wsl-image`` adds to a root file system so that WSL installs it as a
distribution that does not leave people as root: ``/etc/wsl-distribution.conf`` (the modern
``.wsl`` format, WSL 2.4.4 and later) and a first-start (OOBE) script.

WSL runs ``[oobe] command`` once, as root, through ``/bin/sh -c``, the first time someone opens a
shell in the new distribution, and then starts as ``[oobe] defaultUid`` (microsoft/WSL
``src/linux/init/init.cpp``). The script creates that user (uid 1000: Microsoft's checklist) with
the name given as its argument, in ``$PROVISION_WSL_USER``, or asked on the terminal, adds it to
``sudo``, and sets ``[user] default=`` in /etc/wsl.conf: the file with that key was made here by
wsl.conf's own editor (``provision.formats.wslconf_edit``, every other setting kept), with a
placeholder the script replaces by the (checked) name, and only if /etc/wsl.conf is still the file
the image was made with.

Pure: text in, text out. Packing is ``provision.imagepack``.
"""

from __future__ import annotations

import hashlib
import re

from provision.errors import UsageError
from provision.formats.wslconf import WslConfError, read
from provision.formats.wslconf_edit import set_keys

OOBE_PATH = "/usr/lib/wsl/provision-oobe"
WSLCONF_TEMPLATE_PATH = "/usr/lib/wsl/provision-wsl.conf"
ICON_PATH = "/usr/lib/wsl/provision.ico"
CONF_PATH = "/etc/wsl-distribution.conf"
PLACEHOLDER = "PROVISIONDEFAULTUSER"  # upper case: never a user name the script accepts
USER_ENV = "PROVISION_WSL_USER"
DEFAULT_UID = 1000
_DISTRO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")  # what the OOBE script accepts (and `useradd`)


def check_default_name(name: str) -> None:
    if not _DISTRO_NAME.match(name):
        raise UsageError(f"--name {name!r}: a WSL distribution name is letters, digits, '.', '_' and '-' "
                         "(at most 64, starting with a letter or digit)")


def distribution_conf(default_name: str, *, icon: bool) -> bytes:
    """/etc/wsl-distribution.conf: the OOBE command, uid 1000 after it, the default name, the icon."""
    check_default_name(default_name)
    text = ("# /etc/wsl-distribution.conf, written by provision (export wsl-image): read by WSL when the\n"
            "# distribution is installed and when it first starts\n"
            f"[oobe]\ncommand = {OOBE_PATH}\ndefaultUid = {DEFAULT_UID}\ndefaultName = {default_name}\n")
    if icon:
        text += f"\n[shortcut]\nicon = {ICON_PATH}\n"
    return text.encode()


def wslconf_template(original: bytes | None) -> bytes:
    """/etc/wsl.conf with ``[user] default`` set to PLACEHOLDER, by wsl.conf's editor (the other
    settings as WSL reads them now). Raises UsageError when the file cannot be edited safely."""
    data = original or b""
    if PLACEHOLDER.encode() in data:
        raise UsageError(f"/etc/wsl.conf of the root contains {PLACEHOLDER}, which the image's first-start "
                         "script would replace: remove it")
    try:
        edit = set_keys(data, {"user.default": PLACEHOLDER})
    except WslConfError as exc:
        raise UsageError(f"/etc/wsl.conf of the root: {exc}") from None
    if edit.data.count(PLACEHOLDER.encode()) != 1:
        raise UsageError("/etc/wsl.conf of the root: [user] default cannot be set in one place")
    return edit.data


def with_user(template: bytes, name: str) -> bytes:
    """What the OOBE script writes (its ``sed``), for tests and the export's own check."""
    if not USER_NAME.match(name):
        raise ValueError(name)
    return template.replace(PLACEHOLDER.encode(), name.encode())


def check_template(original: bytes | None, template: bytes) -> None:
    """The template, once the script put a name in, reads as the original plus [user] default."""
    before = read(original or b"").effective()
    after = read(with_user(template, "user")).effective()
    if after != {**before, "user.default": "user"}:
        raise UsageError("/etc/wsl.conf of the root: setting [user] default would change other settings")


def sha256(data: bytes | None) -> str:
    return "-" if data is None else hashlib.sha256(data).hexdigest()


OOBE = r"""#!/bin/sh
# First start of this WSL distribution, written by provision (export wsl-image). WSL runs it once,
# as root, from /etc/wsl-distribution.conf ([oobe] command), then starts as uid @UID@.
# It creates the default user (uid @UID@), adds it to the sudo group and sets [user] default in
# /etc/wsl.conf. The name: the first argument, else $@ENV@ (from Windows: set it and
# WSLENV=@ENV@), else asked on the terminal.
set -u
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
uid=@UID@ conf=/etc/wsl.conf template=@TEMPLATE@ conf_sha=@SHA@
say() { printf '%s\n' "$*" >&2; }
rule="a user name is a lower-case letter or _, then lower-case letters, digits, _ or - (at most 32)"
valid() {
  case $1 in ''|*[!a-z0-9_-]*|[!a-z_]*) return 1 ;; esac
  [ "${#1}" -le 32 ] || return 1
  ! getent passwd "$1" >/dev/null
}
name=$(getent passwd "$uid" | cut -d: -f1)
if [ -n "$name" ]; then
  say "the default user $name (uid $uid) exists: kept"
else
  name=${1:-${@ENV@:-}}
  if [ -n "$name" ]; then
    valid "$name" || { say "provision-oobe: user name refused: $rule, and not an existing user"; exit 2; }
  elif [ -t 0 ]; then
    echo 'Create the default user of this distribution (it does not need to match your Windows user name).'
    while :; do
      printf 'New user name: '
      IFS= read -r name || exit 1
      valid "$name" && break
      say "refused: $rule, and not an existing user"
    done
  else
    say "provision-oobe: no user name: give it as an argument or in @ENV@ (from Windows, with WSLENV=@ENV@)"
    exit 1
  fi
  shell=/bin/bash; [ -x "$shell" ] || shell=/bin/sh
  useradd --create-home --uid "$uid" --user-group --shell "$shell" "$name" || exit 1
  if getent group sudo >/dev/null; then
    usermod -a -G sudo "$name" || exit 1
  else
    say "no sudo group (sudo is not installed): $name is not an administrator"
  fi
  if [ -t 0 ]; then
    tries=0
    until passwd "$name"; do
      tries=$((tries + 1)); [ "$tries" -lt 3 ] || { say "no password set: wsl -u root passwd $name"; break; }
    done
  else
    say "no password set for $name: set one with wsl -u root passwd $name"
  fi
fi
now=-; if [ -e "$conf" ] || [ -L "$conf" ]; then now=$(sha256sum < "$conf" | cut -d' ' -f1); fi
if [ "$now" = "$conf_sha" ] && [ -f "$template" ]; then
  tmp=$(mktemp /etc/.wsl.conf.XXXXXX) &&
    sed "s/@PLACEHOLDER@/$name/" "$template" > "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$conf" ||
    { rm -f "$tmp"; say "could not write $conf: add [user] default=$name to it"; }
else
  say "$conf changed since the image was made: add [user] default=$name to it"
fi
echo "default user: $name"
exit 0
"""


def oobe_script(original_wslconf: bytes | None) -> bytes:
    return (OOBE.replace("@UID@", str(DEFAULT_UID)).replace("@ENV@", USER_ENV)
            .replace("@TEMPLATE@", WSLCONF_TEMPLATE_PATH).replace("@SHA@", sha256(original_wslconf))
            .replace("@PLACEHOLDER@", PLACEHOLDER).encode())
