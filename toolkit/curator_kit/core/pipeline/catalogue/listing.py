"""`curator-kit stages --catalogue`: what the catalogue of a Curator release holds, in words."""

from __future__ import annotations

import json

from curator_kit.core.pipeline.catalogue import rules
from curator_kit.core.pipeline.catalogue.table import Builtin, Catalogue, Part


def catalogue_lines(catalogue: Catalogue) -> list[str]:
    lines = [
        f"built-in stages of nemo-curator {catalogue.curator} (fields read from nemo-curator {catalogue.nemo_curator})",
        "add one: curator-kit add NAME [--after STAGE | --before STAGE] [--param KEY=VALUE ...]",
    ]
    for builtin in catalogue.builtins.values():
        lines += ["", *_builtin_lines(catalogue, builtin)]
    return lines


def _builtin_lines(catalogue: Catalogue, builtin: Builtin) -> list[str]:
    defaults = {name: param.default for name, param in builtin.params.items()}
    values = {
        **{spec.name: part.default(spec.name) for part in builtin.parts for spec in part.fields},
        **defaults,
    }
    lines = [f"{builtin.key} ({builtin.family}): {builtin.summary}"]
    lines.append(f"  classes   {' + '.join(builtin.classes)}")
    lines += [
        f"  {'resources' if i == 0 else '':<9} {_resources(part, values)}" for i, part in enumerate(builtin.parts)
    ]
    weights = sorted({w for part in builtin.parts for w in _weights(part, values)})
    if weights:
        lines.append(f"  weights   {', '.join(weights)} (under the run's model directory)")
    if builtin.requires:
        lines.append(f"  after     {'; '.join(catalogue.capabilities[need] for need in builtin.requires)}")
    made = [
        item if isinstance(item, str) else f"{item['then']} (with {_condition(item['if'])})"
        for item in builtin.provides
    ]
    if made:
        lines.append(f"  makes     {', '.join(made)}")
    if builtin.writer:
        told = ", ".join(f"{key} = {value!r}" for key, value in builtin.writer.items())
        lines.append(f"  writer    {told}")
    lines.append("  params")
    width = max((len(name) for name in builtin.params), default=0)
    for name, param in builtin.params.items():
        default = f"default {_toml(param.default)}" if param.derived is None else rules.describe_rule(param.derived)
        lines.append(f"    {name:<{width}}  {param.type_text}; {default}")
    lines += [f"  note      {note}" for note in builtin.notes]
    return lines


def _resources(part: Part, values: dict) -> str:
    """The part's Resources with default values, and the fields its other cases depend on."""
    own = {spec.name: values.get(spec.name) for spec in part.fields}
    res = rules.resources_of(part, own)
    amounts = [f"{res.cpus:g} CPU" + (f" ({res.cpus_field})" if res.cpus_field else "")]
    if res.gpus:
        amounts.append(f"{res.gpus:.3g} GPU")
    if res.gpu_memory_gb:
        amounts.append(f"{res.gpu_memory_gb:g} GB GPU memory")
    amounts += [f"{n} {kind}" for kind, n in (("NVDEC", res.nvdecs), ("NVENC", res.nvencs)) if n]
    depends = sorted({name for case in part.resources for name in case.get("if", {})})
    more = f"; depends on {', '.join(depends)}" if depends else ""
    return f"{part.class_name}: {', '.join(amounts)}{more}"


def _weights(part: Part, values: dict) -> list[str]:
    keyed = [spec for spec in part.weights if "key" in spec]
    if keyed:
        return [f"by {spec['key']}: e.g. {rules.weights_of(part, values)[0]}" for spec in keyed[:1]]
    return rules.weights_of(part, values)


def _condition(condition: dict) -> str:
    return " and ".join(
        f"{name} {'in' if isinstance(value, list) else '='} {value!r}" for name, value in condition.items()
    )


def _toml(value: object) -> str:
    """A default as a manifest would write it (TOML has no null: None is the word "none")."""
    return '"none"' if value is None else json.dumps(value)
