"""The Pod Security Standards' "restricted" profile, as a check of pod specs (pure).

Written from the documented controls (kubernetes.io/docs/concepts/security/pod-security-standards):
the baseline ones a pod spec can break (host namespaces, privileged, added capabilities, hostPath,
host ports, /proc mount, seccomp Unconfined, AppArmor, SELinux, sysctls) and the restricted ones
(volume types, privilege escalation, running as non-root, a non-zero user id, seccomp, dropping
ALL capabilities). "Containers" means containers, initContainers and ephemeralContainers.

`export kuberay` runs every pod template it writes (head, workers, submitter) through this, so a
manifest is admitted by a namespace labelled `pod-security.kubernetes.io/enforce: restricted`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_ADD_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SECCOMP_RESTRICTED = ("RuntimeDefault", "Localhost")
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(field) or []):
            yield f"{field}[{index}]", container


def restricted_problems(template: dict[str, Any], where: str = "") -> list[str]:
    """What keeps a PodTemplateSpec (metadata + spec) out of a "restricted" namespace; [] if nothing."""
    spec = template.get("spec") or {}
    pod = spec.get("securityContext") or {}
    at = f"{where}.spec" if where else "spec"
    problems: list[str] = []

    def bad(path: str, rule: str) -> None:
        problems.append(f"{at}.{path}: {rule}")

    # Baseline: host namespaces, HostProcess, sysctls, SELinux/AppArmor at pod level (and AppArmor's annotations).
    for key, value in ((template.get("metadata") or {}).get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value != "runtime/default" and not value.startswith("localhost/"):
            problems.append(f"{where + '.' if where else ''}metadata.annotations.{key}: AppArmor must not be {value!r}")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            bad(field, "host namespaces are not allowed")
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        bad("securityContext.windowsOptions.hostProcess", "HostProcess pods are not allowed")
    for index, sysctl in enumerate(pod.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            bad(f"securityContext.sysctls[{index}]", f"{sysctl.get('name')!r} is not a safe sysctl")
    _selinux_apparmor(pod, "securityContext", bad)

    # Restricted: volume types (which also rules out baseline's hostPath).
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = sorted(set(volume) - {"name"})
        if not kinds or any(kind not in RESTRICTED_VOLUME_TYPES for kind in kinds):
            bad(f"volumes[{index}]", f"volume type {', '.join(kinds) or 'none'} is not allowed")

    # Restricted: non-root, non-zero uid, seccomp at pod level (or in every container).
    pod_non_root = pod.get("runAsNonRoot") is True
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type")
    if pod.get("runAsUser") == 0:
        bad("securityContext.runAsUser", "must not be 0 (root)")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_RESTRICTED:
        bad("securityContext.seccompProfile.type", f"must be {' or '.join(SECCOMP_RESTRICTED)}")

    for name, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            bad(f"{name}.securityContext.windowsOptions.hostProcess", "HostProcess containers are not allowed")
        if sc.get("privileged"):
            bad(f"{name}.securityContext.privileged", "privileged containers are not allowed")
        if sc.get("procMount", "Default") != "Default":
            bad(f"{name}.securityContext.procMount", "must be Default")
        for index, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                bad(f"{name}.ports[{index}].hostPort", "host ports are not allowed")
        _selinux_apparmor(sc, f"{name}.securityContext", bad)
        if sc.get("allowPrivilegeEscalation") is not False:
            bad(f"{name}.securityContext.allowPrivilegeEscalation", "must be false")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            bad(f"{name}.securityContext.runAsNonRoot", "must be true (here or in the pod's securityContext)")
        if sc.get("runAsUser") == 0:
            bad(f"{name}.securityContext.runAsUser", "must not be 0 (root)")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is None and pod_seccomp is None:
            bad(f"{name}.securityContext.seccompProfile.type", "must be set (here or in the pod's securityContext)")
        elif seccomp is not None and seccomp not in SECCOMP_RESTRICTED:
            bad(f"{name}.securityContext.seccompProfile.type", f"must be {' or '.join(SECCOMP_RESTRICTED)}")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            bad(f"{name}.securityContext.capabilities.drop", "must include ALL")
        added = set(capabilities.get("add") or []) - RESTRICTED_ADD_CAPABILITIES
        if added:
            bad(f"{name}.securityContext.capabilities.add", f"only NET_BIND_SERVICE may be added, not {sorted(added)}")
    return problems


def _selinux_apparmor(sc: dict[str, Any], path: str, bad: Any) -> None:
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        bad(f"{path}.seLinuxOptions", "custom SELinux user, role or type is not allowed")
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in APPARMOR_TYPES:
        bad(f"{path}.appArmorProfile.type", "must be RuntimeDefault or Localhost")
