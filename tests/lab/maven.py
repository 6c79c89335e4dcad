"""Debian's own Maven as the consumer of the toolchains provision writes: a one-class project whose
maven-compiler-plugin asks for JDK <v> through ``jdkToolchain``, built offline from the plugins
Debian ships in /usr/share/maven-repo. The class file's major version says which javac ran."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

TOOLCHAINS = "/etc/maven/toolchains.xml"  # Debian's global toolchains file
# maven-compiler-plugin as Debian packages it (libmaven-compiler-plugin-java)
PLUGIN = {"bookworm": "3.10.1", "trixie": "3.13.0"}
MAJOR = {17: 61, 21: 65, 25: 69}  # a class file's major version, by the javac that wrote it
HELLO = "public class Hello { public static void main(String[] a) { System.out.println(\"hi\"); } }\n"
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lab</groupId><artifactId>hello</artifactId><version>1</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.release>@V@</maven.compiler.release>
  </properties>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId>
    <version>@PLUGIN@</version>
    <configuration><jdkToolchain><version>@V@</version></jdkToolchain></configuration>
  </plugin></plugins></build>
</project>
"""


def write_project(file: Callable[[str], Path], v: int, suite: str = "trixie") -> None:
    """The project for JDK ``v`` in /tmp/hello<v>; ``file`` maps a target path to a local one."""
    for path, text in ((f"/tmp/hello{v}/pom.xml", POM.replace("@V@", str(v)).replace("@PLUGIN@", PLUGIN[suite])),
                       (f"/tmp/hello{v}/src/main/java/Hello.java", HELLO)):
        file(path).parent.mkdir(parents=True, exist_ok=True)
        file(path).write_text(text)


def command(v: int, suite: str = "trixie") -> str:
    """The shell command that compiles /tmp/hello<v> offline, Maven's output on stdout."""
    return (f"cd /tmp/hello{v} && mvn -o -B -Dmaven.repo.local=/usr/share/maven-repo "
            f"org.apache.maven.plugins:maven-compiler-plugin:{PLUGIN[suite]}:compile 2>&1")


def major(file: Callable[[str], Path], v: int) -> int:
    """The major version of the class file /tmp/hello<v>'s build wrote."""
    cls = file(f"/tmp/hello{v}/target/classes/Hello.class").read_bytes()
    assert cls[:4] == b"\xca\xfe\xba\xbe", cls[:8]
    return int.from_bytes(cls[6:8], "big")
