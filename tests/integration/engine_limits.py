"""What an engine lets containers have: shared by the engine tests that start containers."""

from __future__ import annotations


def startable_ulimits(client, image: str) -> tuple[str, ...]:
    """`--ulimit` overrides needed to start containers on this engine: () where memlock=-1 is allowed.

    An engine without CAP_SYS_RESOURCE (this project's sandboxes) cannot raise memlock above its own
    hard limit; there the tests start containers at that limit, which `ulimit -H -l` reports in KiB.
    """
    from docker.errors import APIError
    from docker.types import Ulimit

    # create + start, not run(remove=True): a refused start leaves the created container behind.
    probe = client.containers.create(image, ["true"], ulimits=[Ulimit(name="memlock", soft=-1, hard=-1)])
    try:
        probe.start()
        probe.wait()
        return ()
    except APIError as error:
        if "error setting rlimit" not in str(error):
            raise
    finally:
        probe.remove(force=True)
    kib = client.containers.run(image, ["sh", "-c", "ulimit -H -l"], remove=True).decode().strip()
    return (f"memlock={int(kib) * 1024}",)
