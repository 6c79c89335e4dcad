"""A held command that ends early says why: its stderr is in the error even when it arrives last."""

import pytest

from provision.connections.local import PopenProcess
from provision.errors import ConnectError


def test_the_stderr_of_a_command_that_ended_is_in_the_error():
    # The shell closes stdout and exits at once, while a child keeps stderr open a little longer:
    # the end of stdout comes before stderr's, as it can for any command under load.
    proc = PopenProcess.spawn(["sh", "-c", "echo 'refusing to use it' >&2; "
                                           "(exec >&-; sleep 0.5; echo later >&2) & exit 70"])
    with pytest.raises(ConnectError) as err:
        proc.read_until(b"\n", 10)
    proc.finish(5)
    assert "exit 70" in str(err.value)
    assert "refusing to use it" in str(err.value) and "later" in str(err.value), err.value
