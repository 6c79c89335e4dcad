"""Java domain knowledge the ``jdk`` resource type uses: which JDK is where (resolve), Eclipse
Temurin from Adoptium (temurin), which JDK owns java/javac (alternatives),
the checks of a JDK and of JAVA_HOME (checks)."""
