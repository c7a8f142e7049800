from curator_kit.ops.dockerd_limits import local_dockerd_pid, memlock_cap

LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max locked memory         8388608              8388608              bytes
"""
UNLIMITED = LIMITS.replace("8388608              8388608 ", "unlimited            unlimited")


def test_cap_when_dockerd_lacks_cap_sys_resource():
    assert memlock_cap(LIMITS, "Name:\tdockerd\nCapEff:\t000001fffeffffff\n") == 8388608


def test_no_cap_with_cap_sys_resource_or_unlimited():
    assert memlock_cap(LIMITS, "CapEff:\t000001ffffffffff\n") is None
    assert memlock_cap(UNLIMITED, "CapEff:\t0000000000000000\n") is None


def test_finds_dockerd_by_comm(tmp_path):
    for pid, comm in ((12, "bash"), (345, "dockerd"), (7, "containerd")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    assert local_dockerd_pid(tmp_path) == 345
    assert local_dockerd_pid(tmp_path / "none") is None


def test_the_podman_service_on_the_socket_is_the_one_whose_limits_count(tmp_path):
    from curator_kit.ops.dockerd_limits import local_podman_pid

    def process(pid: int, comm: str, *argv: str) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(arg.encode() for arg in argv) + b"\0")

    process(40, "podman", "podman", "run", "--service-name", "x")  # a podman command, not a service
    process(70, "podman", "podman", "system", "service", "--time=0", "unix:///run/podman/podman.sock")
    process(90, "podman", "podman", "system", "service", "--time=0", "unix:///run/user/1001/podman/podman.sock")
    process(95, "dockerd", "dockerd")
    assert local_podman_pid("/run/user/1001/podman/podman.sock", proc=tmp_path) == 90
    assert local_podman_pid("/run/podman/podman.sock", proc=tmp_path) == 70
    assert local_podman_pid("/elsewhere.sock", proc=tmp_path) == 70  # none serves it: the lowest pid
    assert local_podman_pid(proc=tmp_path) == 70
    assert local_podman_pid(proc=tmp_path / "none") is None


def test_capabilities_in_a_user_namespace_of_its_own_raise_no_limit():
    # A rootless Podman service shows every capability inside its user namespace; its hard limit still holds.
    assert memlock_cap(LIMITS, "CapEff:\t000001ffffffffff\n", initial_namespace=False) == 8388608
    assert memlock_cap(LIMITS, "CapEff:\t000001ffffffffff\n", initial_namespace=True) is None
