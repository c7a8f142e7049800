"""Kubernetes values, parsed by Kubernetes' own rules (pure): names, labels, node selectors,
tolerations, quantities.

Every value refused here is refused with the rule it breaks; nothing is rewritten silently. The
rules are apimachinery's (`k8s.io/apimachinery/pkg/util/validation`): a DNS-1123 label for
namespaces, a DNS-1123 subdomain for claims, secrets and priority classes, a DNS-1035 label for
names that become Service names (KubeRay's RayJob and RayCluster), a qualified name for label
keys, and the label-value syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from curator_kit.errors import CuratorKitError

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL.pattern}(\.{_DNS1123_LABEL.pattern})*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")

DNS1123_LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"
DNS1035_LABEL_RULE = "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
DNS1123_SUBDOMAIN_RULE = f"{DNS1123_LABEL_RULE}, in parts joined by '.'"
LABEL_VALUE_RULE = "empty, or letters, digits, '-', '_' and '.', starting and ending with a letter or digit"

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    **{f"{p}i": 1024 ** (i + 1) for i, p in enumerate("KMGTPE")},
}


def quantity(text: str, what: str) -> float:
    """A Kubernetes resource.Quantity ("2", "500m", "32Gi") as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise CuratorKitError(f"{what} {text!r} is not a Kubernetes quantity", "e.g. 8, 500m, 32Gi")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def _named(what: str, value: str, kind: str, pattern: re.Pattern[str], limit: int, rule: str) -> str:
    if not pattern.fullmatch(value) or len(value) > limit:
        size = f" ({len(value)} characters)" if len(value) > limit else ""
        raise CuratorKitError(f"{what} {value!r} is not a {kind} of at most {limit} characters{size}", f"use {rule}")
    return value


def dns1123_label(value: str, what: str) -> str:
    """A namespace (and any name that must be a DNS-1123 label)."""
    return _named(what, value, "DNS-1123 label", _DNS1123_LABEL, DNS1123_LABEL_MAX, DNS1123_LABEL_RULE)


def dns1035_label(value: str, what: str, limit: int = DNS1123_LABEL_MAX) -> str:
    """A name that becomes a Service name (RayJob, RayCluster): it must start with a letter."""
    return _named(what, value, "DNS-1035 label", _DNS1035_LABEL, limit, DNS1035_LABEL_RULE)


def dns1123_subdomain(value: str, what: str) -> str:
    """Names of PersistentVolumeClaims, Secrets, PriorityClasses."""
    return _named(what, value, "DNS-1123 subdomain", _DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MAX, DNS1123_SUBDOMAIN_RULE)


def dns1035_from(text: str, limit: int) -> str | None:
    """A DNS-1035 label made from free text (a project name), or None when nothing usable is left.

    Only for *default* names: the caller says it made one; a name the user passed is checked, never
    rewritten."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    label = re.sub(r"^[^a-z]+", "", label)[:limit].rstrip("-")
    return label or None


def label_key(value: str, what: str) -> str:
    """A label key: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63 characters."""
    prefix, slash, name = value.rpartition("/")
    if slash and not prefix:
        raise CuratorKitError(f"{what} {value!r} has an empty prefix", "write PREFIX/NAME or NAME, e.g. nvidia.com/gpu")
    if prefix and (not _DNS1123_SUBDOMAIN.fullmatch(prefix) or len(prefix) > DNS1123_SUBDOMAIN_MAX):
        raise CuratorKitError(
            f"{what} {value!r} has an invalid prefix {prefix!r}",
            f"the prefix is a DNS-1123 subdomain of at most {DNS1123_SUBDOMAIN_MAX} characters: "
            f"{DNS1123_SUBDOMAIN_RULE}",
        )
    if not _QUALIFIED_NAME.fullmatch(name) or len(name) > LABEL_VALUE_MAX:
        raise CuratorKitError(
            f"{what} {value!r} is not a valid label key",
            f"the name part is at most {LABEL_VALUE_MAX} characters: letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit (e.g. nvidia.com/gpu.product)",
        )
    return value


def label_value(value: str, what: str) -> str:
    if value and (not _QUALIFIED_NAME.fullmatch(value) or len(value) > LABEL_VALUE_MAX):
        raise CuratorKitError(
            f"{what} {value!r} is not a valid label value", f"at most {LABEL_VALUE_MAX} characters: {LABEL_VALUE_RULE}"
        )
    return value


def node_selector(text: str) -> tuple[str, str]:
    """`KEY=VALUE` of a nodeSelector: a label key and a label value."""
    key, equals, value = text.partition("=")
    if not equals:
        raise CuratorKitError(
            f"--node-selector {text!r} is not KEY=VALUE", "e.g. --node-selector nvidia.com/gpu.product=NVIDIA-L4"
        )
    return label_key(key, "--node-selector key"), label_value(value, "--node-selector value")


@dataclass(frozen=True)
class Toleration:
    key: str
    effect: str
    value: str | None = None  # None: operator Exists (any value)

    def as_dict(self) -> dict[str, str]:
        if self.value is None:
            return {"key": self.key, "operator": "Exists", "effect": self.effect}
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


def toleration(text: str) -> Toleration:
    """`KEY[=VALUE]:EFFECT`, the syntax of `kubectl taint`: KEY:EFFECT tolerates the taint whatever
    its value (operator Exists), KEY=VALUE:EFFECT only that value (operator Equal)."""
    head, colon, effect = text.rpartition(":")
    fix = (
        "write KEY[=VALUE]:EFFECT with EFFECT one of " + ", ".join(TAINT_EFFECTS) + " (e.g. nvidia.com/gpu:NoSchedule)"
    )
    if not colon or not head:
        raise CuratorKitError(f"--toleration {text!r} has no effect", fix)
    if effect not in TAINT_EFFECTS:
        raise CuratorKitError(f"--toleration {text!r}: effect {effect!r} is not a taint effect", fix)
    key, equals, value = head.partition("=")
    label_key(key, "--toleration key")
    if equals:
        return Toleration(key, effect, label_value(value, "--toleration value"))
    return Toleration(key, effect)
