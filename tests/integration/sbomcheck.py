"""A base image's SBOM checked for real: `curator-kit sbom IMAGE -o FILE` gives a document the CycloneDX
library validates against the 1.5 schema and parses; it lists every Python distribution of the venv and
every Debian package dpkg installed, and names nemo-curator, cosmos-xenna, ray, torch and ffmpeg with the
versions the image's check found and a licence each; its label summarises that very file, and `inspect`
shows the summary."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import kitcli
from curator_kit.core.constants import LABEL_BASE_VERSIONS, LABEL_SBOM, SBOM_IN_IMAGE
from curator_kit.engine.images import run_in_image

NAMED = ("nemo-curator", "cosmos-xenna", "ray", "torch", "ffmpeg")

# What the image itself says it holds: the venv's distributions (normalized names) and dpkg's packages.
INVENTORY = r"""
import importlib.metadata as m, json, re, subprocess
python = sorted({re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in m.distributions()})
deb = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package}\n"], capture_output=True, text=True)
installed = sorted(line.split()[1] for line in deb.stdout.splitlines() if line.startswith("installed "))
print(json.dumps({"python": python, "deb": installed}))
"""


def licences(component) -> list[str]:
    """A component's licences as text: SPDX ids, names, or the expression."""
    return [str(getattr(item, "id", None) or getattr(item, "name", None) or item.value) for item in component.licenses]


def check_image_sbom(client, image: str, tmp_path: Path) -> dict[str, tuple[str, list[str]]]:
    """Check `image`'s SBOM; {name: (version, licences)} of the five named components."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    target = tmp_path / "sbom.cdx.json"
    written = kitcli.cli("sbom", image, "-o", str(target), cwd=tmp_path, check=True)
    assert f"wrote {target} (CycloneDX 1.5, " in written.stderr
    text = target.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    bom = Bom.from_json(json.loads(text))

    # Everything the image holds, nothing else: each purl once.
    components = list(bom.components)
    purls = [str(c.purl) for c in components if c.purl]
    assert len(purls) == len(set(purls))
    found = json.loads(run_in_image(client, image, ["python", "-c", INVENTORY]).splitlines()[-1])
    assert sorted(c.purl.name for c in components if c.purl and c.purl.type == "pypi") == found["python"]
    assert sorted(c.name for c in components if c.purl and c.purl.type == "deb") == found["deb"]

    # The five, with the versions the image's check recorded and a licence each.
    labels = client.images.get(image).labels
    versions = json.loads(labels[LABEL_BASE_VERSIONS])
    named = {}
    for name in NAMED:
        kind = "generic" if name == "ffmpeg" else "pypi"
        component = next(c for c in components if c.name.lower() == name and c.purl and c.purl.type == kind)
        assert component.version == versions[name], name
        assert licences(component), f"{name} has no licence in the SBOM"
        named[name] = (component.version, licences(component))
    assert named["nemo-curator"] == ("1.4.0", ["Apache-2.0"])
    assert named["ffmpeg"][1] == ["GPL-2.0-or-later"]  # build-ffmpeg.sh: --enable-gpl

    # The label summarises this very document; inspect shows it.
    summary = json.loads(labels[LABEL_SBOM])
    assert summary["sha256"] == hashlib.sha256(text.encode()).hexdigest() and summary["path"] == SBOM_IN_IMAGE
    assert summary["versions"] == {name: version for name, (version, _l) in named.items()}
    counts = summary["components"]
    assert (counts["python"], counts["deb"]) == (len(found["python"]), len(found["deb"]))
    inspected = kitcli.cli("inspect", image, cwd=tmp_path, check=True).stdout
    line = next(line for line in inspected.splitlines() if line.startswith("sbom "))
    total = sum(counts.values())
    assert re.match(rf"sbom +CycloneDX 1\.5, {total} components \({counts['python']} python, ", line), line
    assert "nemo-curator 1.4.0" in line and f"ffmpeg {named['ffmpeg'][0]}" in line
    return named
