"""The engine's refusals as one line naming what it refused (no engine: the texts runc and dockerd give)."""

import pytest
from curator_kit.engine.containers import translate_engine_error

RUNC = (
    "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container "
    "process: error during container init: error setting rlimits for ready process: error setting rlimit type {}: "
    "operation not permitted: unknown"
)


@pytest.mark.parametrize(
    ("number", "name", "proc_name"),
    [
        (7, "nofile", "open files"),
        (8, "memlock", "locked memory"),
        (3, "stack", "stack size"),
        (6, "nproc", "processes"),
    ],
)
def test_the_refused_limit_is_named(number, name, proc_name):
    # Old main said "memlock=-1 or stack" for every one of these, nofile included.
    error = translate_engine_error(Exception(RUNC.format(number)), "start")
    assert error.message == f"the Docker engine may not raise the {name} ulimit this far in containers"
    assert error.fix.startswith(f"pass --ulimit {name}=SOFT:HARD at or below dockerd's own limit")
    assert f"grep '{proc_name}' /proc/$(pidof dockerd)/limits" in error.fix
    assert "\n" not in error.one_line()


def test_an_unknown_limit_number_is_shown_as_the_engine_said_it():
    error = translate_engine_error(Exception(RUNC.format(9)), "start")  # RLIMIT_AS: no --ulimit name
    assert error.message.startswith("the Docker engine may not set one of the container's ulimits: ")
    assert "rlimit type 9" in error.message
