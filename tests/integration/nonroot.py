"""The non-root user every curator-kit image provides (core/constants.py: NONROOT_*), checked for real on
an image: run as that user and as an arbitrary uid in group 0 (OpenShift's restricted SCC), each gets the
user's name and home, and writes every cache where the libraries themselves put it (Hugging Face,
torch, Triton, XDG, Ray's temp dir)."""

from __future__ import annotations

import json

from curator_kit.core.constants import NONROOT_GID, NONROOT_HOME, NONROOT_UID, NONROOT_USER

# An arbitrary uid with no passwd entry, in group 0, as OpenShift runs a pod.
ARBITRARY_USER = "4242:0"

# Where each library puts its cache, asked of the library (the image sets only HOME: every cache follows
# it), then written to. Triton is in the cuda base only (torch's CUDA wheels); elsewhere its default.
PROBE = """
import getpass, json, os, pathlib
import huggingface_hub.constants as hf
import torch.hub
from ray._common.utils import get_default_ray_temp_dir
try:
    from triton.runtime.cache import default_cache_dir
    triton = default_cache_dir()
except ImportError:
    triton = os.path.join(pathlib.Path.home(), ".triton", "cache")
dirs = {
    "home": os.path.expanduser("~"),
    "xdg": os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "huggingface": hf.HF_HUB_CACHE,
    "torch": torch.hub.get_dir(),
    "triton": triton,
    "ray": get_default_ray_temp_dir(),
}
written = {}
for name, path in dirs.items():
    os.makedirs(path, exist_ok=True)
    probe = pathlib.Path(path, f"probe-{os.getuid()}")
    probe.write_text("x")
    written[name] = str(probe)
    probe.unlink()
print(json.dumps({"user": getpass.getuser(), "home": os.path.expanduser("~"), "id": [os.getuid(), os.getgid()],
                  "dirs": dirs, "written": written}))
"""


def run_as(client, image: str, user: str, command: list[str]) -> str:
    return client.containers.run(image, command, user=user, remove=True, stderr=True).decode()


def probe_as(client, image: str, user: str) -> dict:
    return json.loads(run_as(client, image, user, ["python", "-c", PROBE]).splitlines()[-1])


def check_nonroot_user(client, image: str) -> None:
    """The user, its home and its caches, as `docker run --user` (and Kubernetes) see them."""
    config = client.images.get(image).attrs["Config"]
    assert f"HOME={NONROOT_HOME}" in config["Env"] and f"USER={NONROOT_USER}" in config["Env"]
    assert config.get("User") in ("", None)  # builds FROM it still install as root
    passwd = run_as(client, image, "0", ["getent", "passwd", str(NONROOT_UID)]).strip()
    assert passwd.split(":")[:4] + passwd.split(":")[5:6] == [
        NONROOT_USER,
        "x",
        str(NONROOT_UID),
        str(NONROOT_GID),
        NONROOT_HOME,
    ]
    # Home and every cache under it: the user's, group 0, the group's bits the owner's (g=u).
    modes = run_as(client, image, "0", ["find", NONROOT_HOME, "-printf", "%u:%G %m %p\n"]).splitlines()
    assert modes and all(line.startswith(f"{NONROOT_USER}:0 ") for line in modes), modes
    for line in modes:
        mode = line.split()[1]
        assert mode[-3] == mode[-2], line  # owner digit == group digit
    expected = {"user": NONROOT_USER, "home": NONROOT_HOME}
    for user in (f"{NONROOT_UID}:{NONROOT_GID}", ARBITRARY_USER):
        found = probe_as(client, image, user)
        assert {key: found[key] for key in expected} == expected, (user, found)
        assert found["id"] == [int(part) for part in user.split(":")]
        assert set(found["written"]) == {"home", "xdg", "huggingface", "torch", "triton", "ray"}
        home_caches = {name: path for name, path in found["dirs"].items() if name != "ray"}
        assert all(path.startswith(NONROOT_HOME) for path in home_caches.values()), found["dirs"]
        assert found["dirs"]["ray"] == "/tmp/ray", found["dirs"]  # /tmp: every uid writes it (mode 1777)
    # The done-when line of issue 26, as printed.
    line = "import getpass, os; print(getpass.getuser(), os.path.expanduser('~'))"
    assert run_as(client, image, f"{NONROOT_UID}:{NONROOT_GID}", ["python", "-c", line]).split() == [
        NONROOT_USER,
        NONROOT_HOME,
    ]
