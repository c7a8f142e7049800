"""A CycloneDX 1.5 SBOM of the image it runs in: run by the base recipes' last build step (and by any
image with a Python), offline, from what is installed.

    python sbom.py [--write FILE] [--name NAME --version VERSION]    print the summary; write the SBOM

It lists the Python distributions of the interpreter that runs it (run it with the venv's python to
list the venv), the Debian packages dpkg installed (/var/lib/dpkg/status) and an ffmpeg that no package
installed (/opt/ffmpeg's), each with its version, package URL and licence:

- Python: the distribution's `License-Expression`, else its `License` (a one-line name; a full text is
  skipped), else its `License ::` classifiers, else the text of its licence file when it is one of a few
  licences told apart by their wording (Apache 2.0, MPL 2.0, MIT, BSD 2/3-clause); an unversioned
  classifier (`Apache Software License`, `BSD License`) is made exact by that text where it can be.
- Debian: the `License:` names of /usr/share/doc/PACKAGE/copyright when that file is machine-readable
  (DEP-5); other copyright files are prose, and their packages' licence is left unknown.
- ffmpeg: from `ffmpeg -version`'s configuration (`--enable-gpl`: GPL-2.0-or-later, as configure says).

A licence that cannot be read is left out, never guessed: the component's `curator-kit:license-source`
property says where each licence came from, or `unknown`. Only the standard library is used, and nothing
is fetched: offline and wheelhouse builds make the same document. With --write, the summary printed on
stdout (one line of JSON: format, spec version, component counts, unknown licences, the versions of
nemo-curator, cosmos-xenna, ray, torch and ffmpeg) is what `curator-kit base build` records as the
image's `curator-kit.sbom` label.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

SPEC_VERSION = "1.5"
TOOL_NAME = "curator-kit-sbom"
TOOL_VERSION = "1"
# The components the summary names, by normalized name (PEP 503).
NAMED = ("nemo-curator", "cosmos-xenna", "ray", "torch", "ffmpeg")
LICENSE_SOURCE = "curator-kit:license-source"
UNKNOWN = "unknown"
FFMPEG_DEFAULT = "/opt/ffmpeg/bin/ffmpeg"

# SPDX license ids a licence text may name as they are (a `License` field, a Debian short name mapped
# below): only these become `license.id` (CycloneDX checks ids against the SPDX list); any other name
# stays a `license.name`.
SPDX_IDS = frozenset(
    (
        "0BSD",
        "AFL-2.1",
        "AGPL-3.0-only",
        "AGPL-3.0-or-later",
        "Apache-1.1",
        "Apache-2.0",
        "Artistic-1.0",
        "Artistic-1.0-Perl",
        "Artistic-2.0",
        "BSD-1-Clause",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-4-Clause",
        "BSL-1.0",
        "CC-BY-4.0",
        "CC-BY-SA-4.0",
        "CC0-1.0",
        "EPL-1.0",
        "EPL-2.0",
        "GPL-1.0-or-later",
        "GPL-2.0-only",
        "GPL-2.0-or-later",
        "GPL-3.0-only",
        "GPL-3.0-or-later",
        "HPND",
        "ISC",
        "LGPL-2.0-only",
        "LGPL-2.0-or-later",
        "LGPL-2.1-only",
        "LGPL-2.1-or-later",
        "LGPL-3.0-only",
        "LGPL-3.0-or-later",
        "MIT",
        "MIT-0",
        "MPL-1.1",
        "MPL-2.0",
        "OLDAP-2.8",
        "OpenSSL",
        "PSF-2.0",
        "Python-2.0",
        "Unlicense",
        "WTFPL",
        "X11",
        "Zlib",
    )
)
_SPDX_BY_LOWER = {i.lower(): i for i in SPDX_IDS}
# One-line `License` values that name one SPDX licence in other words.
LICENSE_ALIASES = {
    **dict.fromkeys(
        (
            "apache 2",
            "apache 2.0",
            "apache-2",
            "apache 2.0 license",
            "apache license 2.0",
            "apache license, version 2.0",
            "apache license version 2.0",
            "apache software license 2.0",
            "apache-2.0 license",
        ),
        "Apache-2.0",
    ),
    **dict.fromkeys(("mit license", "the mit license", "the mit license (mit)"), "MIT"),
    **dict.fromkeys(
        ("bsd 3-clause", "bsd 3-clause license", "3-clause bsd license", "3-clause bsd", "new bsd license"),
        "BSD-3-Clause",
    ),
    **dict.fromkeys(("bsd 2-clause", "bsd 2-clause license", "2-clause bsd license", "simplified bsd"), "BSD-2-Clause"),
    **dict.fromkeys(("isc license", "isc license (iscl)"), "ISC"),
    **dict.fromkeys(("mpl 2.0", "mozilla public license 2.0"), "MPL-2.0"),
    **dict.fromkeys(("psf", "psf license", "python software foundation license"), "PSF-2.0"),
}
# `License ::` trove classifiers that name one SPDX licence; others are recorded by their name.
CLASSIFIER_IDS = {
    "OSI Approved :: MIT License": "MIT",
    "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "OSI Approved :: zlib/libpng License": "Zlib",
    "OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
# Unversioned classifiers a recognised licence text may make exact: the name's family, the ids it allows.
CLASSIFIER_FAMILIES = {
    "Apache Software License": ("Apache-2.0",),
    "BSD License": ("BSD-2-Clause", "BSD-3-Clause"),
}
# Debian copyright short names (DEP-5 section "License specification") that are one SPDX licence.
DEBIAN_IDS = {
    "Apache-2": "Apache-2.0",
    "Apache-2.0": "Apache-2.0",
    "Artistic-2.0": "Artistic-2.0",
    "BSD-2-clause": "BSD-2-Clause",
    "BSD-3-clause": "BSD-3-Clause",
    "BSD-4-clause": "BSD-4-Clause",
    "CC0-1.0": "CC0-1.0",
    "Expat": "MIT",
    "GPL-1+": "GPL-1.0-or-later",
    "GPL-2": "GPL-2.0-only",
    "GPL-2+": "GPL-2.0-or-later",
    "GPL-3": "GPL-3.0-only",
    "GPL-3+": "GPL-3.0-or-later",
    "ISC": "ISC",
    "LGPL-2": "LGPL-2.0-only",
    "LGPL-2+": "LGPL-2.0-or-later",
    "LGPL-2.1": "LGPL-2.1-only",
    "LGPL-2.1+": "LGPL-2.1-or-later",
    "LGPL-3": "LGPL-3.0-only",
    "LGPL-3+": "LGPL-3.0-or-later",
    "MPL-1.1": "MPL-1.1",
    "MPL-2.0": "MPL-2.0",
    "Zlib": "Zlib",
}


def normalize(name: str) -> str:
    """A Python distribution's name as PEP 503 compares it (and a purl spells it)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def licence_id(spdx_id: str) -> dict:
    return {"license": {"id": spdx_id}}


def licence_name(name: str) -> dict:
    return {"license": {"name": name}}


def spdx_entries(text: str) -> list[dict] | None:
    """`text` as CycloneDX licences when it is an SPDX id or an expression of known ids (and
    `LicenseRef-`s); None when it is not SPDX."""
    text = text.strip()
    if text.lower() in _SPDX_BY_LOWER:
        return [licence_id(_SPDX_BY_LOWER[text.lower()])]
    if re.fullmatch(r"LicenseRef-[A-Za-z0-9.-]+", text):
        return [{"expression": text}]
    tokens = re.findall(r"[()]|[^\s()]+", text)
    operators = {"AND", "OR", "WITH"}
    if not tokens or not any(t in operators for t in tokens):
        return None
    previous = ""
    for token in tokens:
        if token in "()" or token in operators:
            previous = token
            continue
        if previous != "WITH" and token not in SPDX_IDS and not token.startswith("LicenseRef-"):
            return None
        previous = token
    return [{"expression": text}]


def recognise_licence_text(text: str) -> str | None:
    """The SPDX id of a licence file holding one licence told apart by its wording alone; None otherwise
    (a file with several licences, GPL texts whose version clause is elsewhere, anything else)."""
    words = " ".join(text.split())
    if re.match(r"^Apache License,? Version 2\.0, January 2004", words):
        return "Apache-2.0"
    if re.match(r"^Mozilla Public License,? (Version|v\.?) ?2\.0", words):
        return "MPL-2.0"
    if len(words) > 2500:  # the permissive texts below are short; a longer file holds more than one licence
        return None
    if "Permission is hereby granted, free of charge, to any person obtaining a copy" in words:
        return "MIT" if 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in words else None
    if "Redistribution and use in source and binary forms, with or without modification, are permitted" in words:
        if "advertising materials" in words:
            return None
        return (
            "BSD-3-Clause" if re.search(r"Neither the name|names of (its|the) contributors", words) else "BSD-2-Clause"
        )
    return None


def python_licences(fields, licence_texts: list[tuple[str, str]]) -> tuple[list[dict], str]:
    """(CycloneDX licences, where they came from) of a distribution's metadata (`fields`: get/get_all,
    as importlib.metadata gives it) and the texts of its licence files [(name, text)]."""
    expression = (fields.get("License-Expression") or "").strip()
    if expression:
        return spdx_entries(expression) or [{"expression": expression}], "License-Expression"
    recognised = [(name, spdx) for name, text in licence_texts if (spdx := recognise_licence_text(text))]
    declared = (fields.get("License") or "").strip()
    if declared and "\n" not in declared and len(declared) <= 100 and declared.upper() not in {"UNKNOWN", "NONE"}:
        alias = LICENSE_ALIASES.get(declared.lower().rstrip("."))
        return ([licence_id(alias)] if alias else spdx_entries(declared) or [licence_name(declared)]), "License"
    classifiers = [c[len("License :: ") :] for c in fields.get_all("Classifier") or [] if c.startswith("License :: ")]
    if classifiers:
        entries, refined = [], False
        for classifier in dict.fromkeys(classifiers):
            name = classifier.split(" :: ")[-1]
            family = CLASSIFIER_FAMILIES.get(name, ())
            exact = [spdx for _file, spdx in recognised if spdx in family]
            if classifier in CLASSIFIER_IDS:
                entries.append(licence_id(CLASSIFIER_IDS[classifier]))
            elif exact:
                entries.append(licence_id(exact[0]))
                refined = True
            else:
                entries.append(licence_name(name))
        return entries, "classifier" + (f" made exact by the text of {recognised[0][0]}" if refined else "")
    if recognised:
        name, spdx = recognised[0]
        return [licence_id(spdx)], f"license file {name} (text recognised)"
    return [], UNKNOWN


def _licence_texts(distribution: metadata.Distribution) -> list[tuple[str, str]]:
    texts = []
    for name in distribution.metadata.get_all("License-File") or []:
        for candidate in (f"licenses/{name}", name):  # Metadata 2.4 keeps them under licenses/
            try:
                text = distribution.read_text(candidate)
            except (OSError, UnicodeDecodeError):
                text = None
            if text:
                texts.append((name, text))
                break
    return texts


def purl_pypi(name: str, version: str) -> str:
    return f"pkg:pypi/{normalize(name)}@{quote(version, safe='')}"


def python_components(distributions=None) -> list[dict]:
    """A component per distribution the interpreter finds, the first of each name (sys.path order)."""
    components, seen = [], set()
    for distribution in metadata.distributions() if distributions is None else distributions:
        fields = distribution.metadata
        name, version = fields.get("Name"), fields.get("Version")
        if not name or not version or normalize(name) in seen:
            continue
        seen.add(normalize(name))
        licences, source = python_licences(fields, _licence_texts(distribution))
        purl = purl_pypi(name, version)
        component = {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl}
        if licences:
            component["licenses"] = licences
        component["properties"] = [{"name": LICENSE_SOURCE, "value": source}]
        components.append(component)
    return components


def parse_control(text: str) -> list[dict[str, str]]:
    """Debian control-file paragraphs (dpkg's status, DEP-5 copyright files) as field -> value; a
    continuation line joins its field's value after a newline."""
    paragraphs, fields, last = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            last, _, value = line.partition(":")
            fields[last] = value.strip()
        # a line that is neither (a stray comment) is skipped
    if fields:
        paragraphs.append(fields)
    return paragraphs


def installed_packages(status_text: str) -> list[dict[str, str]]:
    """The packages of a dpkg status file that are installed (`Status: install ok installed`)."""
    return [
        p for p in parse_control(status_text) if p.get("Package") and p.get("Status", "").split()[-1:] == ["installed"]
    ]


def debian_licence_names(copyright_text: str) -> list[str]:
    """The licence names a machine-readable (DEP-5) copyright file gives its files, in order; [] for a
    prose copyright file (its licence cannot be read without guessing)."""
    paragraphs = parse_control(copyright_text)
    if not paragraphs or "copyright-format" not in paragraphs[0].get("Format", ""):
        return []
    names = []
    for index, paragraph in enumerate(paragraphs):
        if index and "Files" not in paragraph:
            continue  # a stand-alone License paragraph: the text of a licence named elsewhere
        first = paragraph.get("License", "").split("\n")[0].strip()
        if first and first not in names:
            names.append(first)
    return names


def debian_licences(names: list[str]) -> list[dict]:
    return [licence_id(DEBIAN_IDS[n]) if n in DEBIAN_IDS else licence_name(n) for n in names]


def parse_os_release(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            found[key.strip()] = value.strip().strip("\"'")
    return found


def purl_deb(distro: str, name: str, version: str, arch: str, distro_qualifier: str) -> str:
    qualifiers = [f"arch={quote(arch, safe='')}"] if arch else []
    if distro_qualifier:
        qualifiers.append(f"distro={quote(distro_qualifier, safe='')}")
    tail = f"?{'&'.join(qualifiers)}" if qualifiers else ""
    return f"pkg:deb/{quote(distro, safe='')}/{quote(name, safe='')}@{quote(version, safe=':')}{tail}"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def os_release(root: Path = Path("/")) -> dict[str, str]:
    return parse_os_release(_read(root / "etc/os-release") or _read(root / "usr/lib/os-release"))


def deb_components(root: Path = Path("/")) -> list[dict]:
    """A component per installed Debian package, its licence from its machine-readable copyright file."""
    release = os_release(root)
    distro = release.get("ID", "debian")
    qualifier = (
        f"{distro}-{release['VERSION_ID']}" if release.get("VERSION_ID") else release.get("VERSION_CODENAME", "")
    )
    components = []
    for package in installed_packages(_read(root / "var/lib/dpkg/status")):
        name, version, arch = package["Package"], package.get("Version", ""), package.get("Architecture", "")
        names = debian_licence_names(_read(root / "usr/share/doc" / name / "copyright"))
        purl = purl_deb(distro, name, version, arch, qualifier)
        component = {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl}
        if names:
            component["licenses"] = debian_licences(names)
        source = "copyright" if names else f"{UNKNOWN} (no machine-readable /usr/share/doc/{name}/copyright)"
        properties = [{"name": LICENSE_SOURCE, "value": source}]
        if package.get("Source"):
            properties.append({"name": "curator-kit:deb:source", "value": package["Source"]})
        component["properties"] = properties
        components.append(component)
    return components


def os_component(root: Path = Path("/")) -> list[dict]:
    release = os_release(root)
    if not release.get("ID"):
        return []
    version = release.get("VERSION_ID", "")
    component = {"type": "operating-system", "bom-ref": f"os:{release['ID']}@{version}", "name": release["ID"]}
    if version:
        component["version"] = version
    if release.get("PRETTY_NAME"):
        component["description"] = release["PRETTY_NAME"]
    return [component]


def ffmpeg_licence(configuration: str) -> str:
    """ffmpeg's licence as its configure decides it from the flags it was built with."""
    flags = set(configuration.split())
    if "--enable-nonfree" in flags:
        return "LicenseRef-FFmpeg-nonfree"  # configure: "nonfree and unredistributable"
    if "--enable-gpl" in flags:
        return "GPL-3.0-or-later" if "--enable-version3" in flags else "GPL-2.0-or-later"
    return "LGPL-3.0-or-later" if "--enable-version3" in flags else "LGPL-2.1-or-later"


def parse_ffmpeg_version(text: str) -> tuple[str, str]:
    """(version, configuration) from `ffmpeg -version`'s output."""
    words = text.split()
    version = words[2] if len(words) > 2 and words[:2] == ["ffmpeg", "version"] else UNKNOWN
    configuration = next(
        (line.partition(":")[2] for line in text.splitlines() if line.startswith("configuration:")), ""
    )
    return version, configuration.strip()


def _dpkg_owns(path: str, root: Path = Path("/")) -> bool:
    return any(path in _read(listing).splitlines() for listing in (root / "var/lib/dpkg/info").glob("*.list"))


def ffmpeg_components(binary: str | None = None) -> list[dict]:
    """ffmpeg when no Debian package installed it (curator-kit's base images build it into /opt/ffmpeg);
    a packaged one is the Debian component already."""
    binary = binary or (FFMPEG_DEFAULT if os.path.isfile(FFMPEG_DEFAULT) else shutil.which("ffmpeg"))
    if not binary:
        return []
    real = os.path.realpath(binary)
    if not os.path.isfile(real) or _dpkg_owns(real) or _dpkg_owns(binary):
        return []
    try:
        output = subprocess.run([real, "-hide_banner", "-version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    version, configuration = parse_ffmpeg_version(output)
    spdx = ffmpeg_licence(configuration)
    purl = f"pkg:generic/ffmpeg@{quote(version, safe='')}"
    licences = [licence_id(spdx)] if spdx in SPDX_IDS else [{"expression": spdx}]
    libraries = sorted(f[len("--enable-") :] for f in configuration.split() if f.startswith("--enable-lib"))
    properties = [
        {"name": LICENSE_SOURCE, "value": "ffmpeg -version configuration"},
        {"name": "curator-kit:path", "value": real},
    ]
    if libraries:
        properties.append({"name": "curator-kit:ffmpeg:libraries", "value": ",".join(libraries)})
    runtime = Path(real).parent.parent / "runtime-packages"
    if runtime.is_file():  # build-ffmpeg.sh lists the Debian packages its binaries link against
        properties.append({"name": "curator-kit:ffmpeg:runtime-packages", "value": ",".join(_read(runtime).split())})
    component = {"type": "application", "bom-ref": purl, "name": "ffmpeg", "version": version, "purl": purl}
    component.update(licenses=licences, properties=properties)
    return [component]


def document(components: list[dict], name: str | None = None, version: str | None = None, now=None) -> dict:
    """The CycloneDX 1.5 document of `components`; `name` (and `version`) name what it describes."""
    if now is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        utc = datetime.timezone.utc  # noqa: UP017 -- runs on any image's Python, not only 3.11+
        now = datetime.datetime.fromtimestamp(int(epoch), utc) if epoch else datetime.datetime.now(utc)
    meta = {
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tools": {"components": [{"type": "application", "name": TOOL_NAME, "version": TOOL_VERSION}]},
    }
    if name:
        subject = {"type": "container", "bom-ref": f"{name}@{version}" if version else name, "name": name}
        if version:
            subject["version"] = version
        meta["component"] = subject
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": meta,
        "components": components,
    }


def kind(component: dict) -> str:
    """python, deb or other, by the component's package URL."""
    purl = component.get("purl", "")
    return "python" if purl.startswith("pkg:pypi/") else "deb" if purl.startswith("pkg:deb/") else "other"


def summarize(bom: dict, text: str | None = None) -> dict:
    """What the `curator-kit.sbom` label records of a document (`text`: its bytes as written, for the digest)."""
    components = bom.get("components") or []
    counts = {"python": 0, "deb": 0, "other": 0}
    for component in components:
        counts[kind(component)] += 1
    versions = {}
    for wanted in NAMED:
        found = [c for c in components if normalize(c.get("name", "")) == wanted and c.get("version")]
        # A Python distribution before a Debian package of the same name; for ffmpeg, the one built here.
        found.sort(key=lambda c: {"python": 0, "other": 0, "deb": 1}[kind(c)])
        if found:
            versions[wanted] = found[0]["version"]
    summary = {
        "format": bom.get("bomFormat", UNKNOWN),
        "spec": bom.get("specVersion", UNKNOWN),
        "components": counts,
        "unknown-licences": sum(1 for c in components if c.get("type") != "operating-system" and not c.get("licenses")),
        "versions": versions,
    }
    if text is not None:
        summary["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return summary


def summary_line(summary: dict) -> str:
    return json.dumps(summary, sort_keys=True, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the SBOM (CycloneDX 1.5 JSON) to this file")
    parser.add_argument("--name", help="what the SBOM describes (its metadata.component), say an image's name")
    parser.add_argument("--version", help="that subject's version")
    parser.add_argument("--ffmpeg", help=f"the ffmpeg to list [default: {FFMPEG_DEFAULT}, else the one on PATH]")
    args = parser.parse_args(argv)
    components = python_components() + deb_components() + os_component() + ffmpeg_components(args.ffmpeg)
    components.sort(key=lambda c: ({"python": 0, "deb": 1, "other": 2}[kind(c)], c["name"].lower(), c["bom-ref"]))
    bom = document(components, args.name, args.version)
    text = json.dumps(bom, indent=1, sort_keys=False) + "\n"
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
        args.write.chmod(0o644)
    print(summary_line(summarize(bom, text if args.write else None)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
