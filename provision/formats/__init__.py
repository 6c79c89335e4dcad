"""File grammars this tool edits in place: each keeps every line it does not manage byte for byte."""
