"""The SBOM generator shipped into images (base-images/sbom.py) and how curator-kit reads its document back:
dpkg's status and DEP-5 copyright files parsed, licences picked (and left unknown rather than guessed),
package URLs spelled, the summary the `curator-kit.sbom` label records, a document the CycloneDX library
validates against the 1.5 schema, and the `sbom` command and `inspect` line."""

from __future__ import annotations

import email.message
import hashlib
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.core import constants
from curator_kit.core.build.baseimage import recipe_files, render_recipe
from curator_kit.core.build.imagelabels import describe_labels
from curator_kit.core.build.sbom import describe_summary, generator, sbom_label, sbom_notes, sbom_text
from curator_kit.errors import CuratorKitError
from curator_kit.resources import available_variants, sbom_script

gen = generator()

STATUS = """\
Package: zlib1g
Status: install ok installed
Priority: required
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.

Package: libx264-164
Status: install ok installed
Architecture: amd64
Source: x264
Version: 2:0.164.3095+gitbaee400-3

Package: old-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b-0+deb12u1
"""

DEP5 = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: zlib
License: Zlib

Files: *
Copyright: 1995-2013 Jean-loup Gailly and Mark Adler
License: Zlib

Files: contrib/minizip/*
Copyright: 1998-2010 Gilles Vollant
License: GPL-2+ or Artistic

Files: debian/*
Copyright: 2006 Mark Brown
License: Zlib

License: Zlib
 This software is provided 'as-is', without any express or implied
 warranty.

License: GPL-2+ or Artistic
 Either version 2 of the GPL, or the Artistic licence.
"""

PROSE = """\
This is the Debian prepackaged version of the x264 library.
License: GPL-2+ (this line in prose is not a DEP-5 field)
"""

APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION
"""
MIT = """MIT License

Copyright (c) 2020 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, subject to the following conditions:

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
"""
BSD = """Copyright (c) 2010, Someone
Redistribution and use in source and binary forms, with or without modification, are permitted
provided that the following conditions are met:
1. Redistributions of source code must retain the above copyright notice.
2. Redistributions in binary form must reproduce the above copyright notice.
{third}
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS".
"""
BSD3 = BSD.format(third="3. Neither the name of the copyright holder nor the names of its contributors may be used.")
BSD2 = BSD.format(third="")


def fields(**headers: str | list[str]) -> email.message.Message:
    """Distribution metadata as importlib.metadata gives it (get, get_all)."""
    message = email.message.Message()
    for key, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            message[key.replace("_", "-")] = item
    return message


# --- Debian ---------------------------------------------------------------------------------------------


def test_installed_packages_from_dpkg_status():
    packages = gen.installed_packages(STATUS)
    assert [p["Package"] for p in packages] == ["zlib1g", "libx264-164", "tzdata"]  # not the removed one
    assert packages[0]["Version"] == "1:1.2.13.dfsg-1" and packages[0]["Source"] == "zlib"
    assert (
        packages[0]["Description"].splitlines()[1]
        == "zlib is a library implementing the deflate compression method found"
    )


def test_licence_names_of_a_machine_readable_copyright_file_and_none_of_prose():
    assert gen.debian_licence_names(DEP5) == ["Zlib", "GPL-2+ or Artistic"]  # header and Files, once each
    assert gen.debian_licence_names(PROSE) == []
    assert gen.debian_licence_names("") == []


def test_debian_short_names_become_spdx_ids_only_where_they_are_one():
    assert gen.debian_licences(["GPL-2+", "Expat", "LGPL-2.1", "GPL-2+ or Artistic", "public-domain"]) == [
        {"license": {"id": "GPL-2.0-or-later"}},
        {"license": {"id": "MIT"}},
        {"license": {"id": "LGPL-2.1-only"}},
        {"license": {"name": "GPL-2+ or Artistic"}},
        {"license": {"name": "public-domain"}},
    ]


def test_deb_purls_keep_the_epoch_and_encode_a_plus():
    assert gen.purl_deb("debian", "zlib1g", "1:1.2.13.dfsg-1", "amd64", "debian-12") == (
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12"
    )
    assert gen.purl_deb("ubuntu", "libc6", "2.39-0ubuntu8+1", "amd64", "") == (
        "pkg:deb/ubuntu/libc6@2.39-0ubuntu8%2B1?arch=amd64"
    )


def image_root(tmp_path: Path, os_release: str = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian 12"\n') -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(os_release)
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(STATUS)
    for package, text in (("zlib1g", DEP5), ("libx264-164", PROSE)):
        (tmp_path / "usr/share/doc" / package).mkdir(parents=True)
        (tmp_path / "usr/share/doc" / package / "copyright").write_text(text)
    return tmp_path


def test_deb_components_of_an_image_root(tmp_path):
    components = {c["name"]: c for c in gen.deb_components(image_root(tmp_path))}
    assert set(components) == {"zlib1g", "libx264-164", "tzdata"}
    zlib = components["zlib1g"]
    assert zlib["purl"] == "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12" == zlib["bom-ref"]
    assert zlib["licenses"] == [{"license": {"id": "Zlib"}}, {"license": {"name": "GPL-2+ or Artistic"}}]
    assert {"name": "curator-kit:license-source", "value": "copyright"} in zlib["properties"]
    assert {"name": "curator-kit:deb:source", "value": "zlib"} in zlib["properties"]
    # Prose, or no copyright file at all: unknown, and said so.
    for name in ("libx264-164", "tzdata"):
        assert "licenses" not in components[name]
        assert components[name]["properties"][0]["value"].startswith("unknown (no machine-readable ")
    assert gen.os_component(tmp_path) == [
        {
            "type": "operating-system",
            "bom-ref": "os:debian@12",
            "name": "debian",
            "version": "12",
            "description": "Debian 12",
        }
    ]


def test_an_ubuntu_root_names_its_distribution_in_the_purls(tmp_path):
    root = image_root(tmp_path, 'ID=ubuntu\nVERSION_ID="24.04"\n')
    assert (
        gen.deb_components(root)[0]["purl"].startswith("pkg:deb/ubuntu/zlib1g@")
        and "distro=ubuntu-24.04" in gen.deb_components(root)[0]["purl"]
    )


def test_no_dpkg_no_deb_components(tmp_path):
    assert gen.deb_components(tmp_path) == [] and gen.os_component(tmp_path) == []


# --- Python ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "texts", "licences", "source"),
    [
        (fields(License_Expression="Apache-2.0"), [], [{"license": {"id": "Apache-2.0"}}], "License-Expression"),
        (
            fields(License_Expression="BSD-3-Clause AND 0BSD", License="ignored"),
            [],
            [{"expression": "BSD-3-Clause AND 0BSD"}],
            "License-Expression",
        ),
        (fields(License="Apache 2.0"), [], [{"license": {"id": "Apache-2.0"}}], "License"),
        (fields(License="bsd-3-clause"), [], [{"license": {"id": "BSD-3-Clause"}}], "License"),
        (fields(License="MIT OR Apache-2.0"), [], [{"expression": "MIT OR Apache-2.0"}], "License"),
        (
            fields(License="LicenseRef-NVIDIA-Proprietary"),
            [],
            [{"expression": "LicenseRef-NVIDIA-Proprietary"}],
            "License",
        ),
        (fields(License="BSD"), [], [{"license": {"name": "BSD"}}], "License"),  # not SPDX: its name
        # A licence text in the License field is skipped; the classifiers say it.
        (
            fields(
                License="Copyright (c) 2020\nPermission is hereby granted...",
                Classifier="License :: OSI Approved :: MIT License",
            ),
            [],
            [{"license": {"id": "MIT"}}],
            "classifier",
        ),
        # An unversioned classifier made exact by the licence file, or recorded by its name without one.
        (
            fields(Classifier=["Programming Language :: Python", "License :: OSI Approved :: Apache Software License"]),
            [("LICENSE", APACHE)],
            [{"license": {"id": "Apache-2.0"}}],
            "classifier made exact by the text of LICENSE",
        ),
        (
            fields(Classifier="License :: OSI Approved :: Apache Software License"),
            [("LICENSE", MIT)],  # a text of another family does not make it exact
            [{"license": {"name": "Apache Software License"}}],
            "classifier",
        ),
        (
            fields(),
            [("LICENSE", APACHE)],
            [{"license": {"id": "Apache-2.0"}}],
            "license file LICENSE (text recognised)",
        ),
        (fields(License="UNKNOWN"), [("COPYING", "All rights reserved.")], [], "unknown"),
    ],
)
def test_python_licences_in_order_of_precedence(metadata, texts, licences, source):
    assert gen.python_licences(metadata, texts) == (licences, source)


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        (APACHE, "Apache-2.0"),
        (MIT, "MIT"),
        (BSD3, "BSD-3-Clause"),
        (BSD2, "BSD-2-Clause"),
        ("Mozilla Public License Version 2.0\n==================================\n", "MPL-2.0"),
        (MIT + "\n\n" + "Bundled code under other licences. " * 100, None),  # more than one licence
        ("                    GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991", None),
        ("", None),
    ],
)
def test_licence_texts_recognised_by_their_wording_alone(text, spdx):
    assert gen.recognise_licence_text(text) == spdx


class FakeDistribution:
    def __init__(self, metadata, files=None):
        self.metadata, self.files = metadata, files or {}

    def read_text(self, name):
        return self.files.get(name)


def test_python_components_first_of_each_name_with_purl_and_licence_source():
    distributions = [
        FakeDistribution(
            fields(Name="Cosmos_Xenna", Version="0.2.0", License_File="LICENSE"), {"licenses/LICENSE": APACHE}
        ),
        FakeDistribution(fields(Name="cosmos-xenna", Version="0.1.0")),  # shadowed: later on sys.path
        FakeDistribution(fields(Name="ray", Version="2.57.0", License="Apache 2.0")),
        FakeDistribution(fields(Name="mystery", Version="1.0")),
    ]
    components = gen.python_components(distributions)
    assert [(c["name"], c["version"], c["purl"]) for c in components] == [
        ("Cosmos_Xenna", "0.2.0", "pkg:pypi/cosmos-xenna@0.2.0"),
        ("ray", "2.57.0", "pkg:pypi/ray@2.57.0"),
        ("mystery", "1.0", "pkg:pypi/mystery@1.0"),
    ]
    assert components[0]["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert components[0]["properties"] == [
        {"name": "curator-kit:license-source", "value": "license file LICENSE (text recognised)"}
    ]
    assert "licenses" not in components[2] and components[2]["properties"][0]["value"] == "unknown"


# --- ffmpeg ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configuration", "spdx"),
    [
        ("--prefix=/opt/ffmpeg --enable-gpl --enable-libx264", "GPL-2.0-or-later"),
        ("--enable-gpl --enable-version3", "GPL-3.0-or-later"),
        ("--enable-version3", "LGPL-3.0-or-later"),
        ("--disable-doc", "LGPL-2.1-or-later"),
        ("--enable-gpl --enable-nonfree", "LicenseRef-FFmpeg-nonfree"),
    ],
)
def test_ffmpeg_licence_as_its_configure_decides_it(configuration, spdx):
    assert gen.ffmpeg_licence(configuration) == spdx


def test_the_base_images_ffmpeg_is_built_with_gpl():
    """build-ffmpeg.sh configures with --enable-gpl (libx264): GPL-2.0-or-later, as the SBOM says."""
    script = (sbom_script().parent / "build-ffmpeg.sh").read_text()
    assert "--enable-gpl" in script and "--enable-nonfree" not in script and "--enable-version3" not in script


def test_ffmpeg_version_output_parsed():
    output = (
        "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026\n"
        "built with gcc 12\nconfiguration: --enable-gpl --enable-libopenh264\n"
    )
    assert gen.parse_ffmpeg_version(output) == ("5.1.9-0+deb12u1", "--enable-gpl --enable-libopenh264")
    assert gen.parse_ffmpeg_version("") == ("unknown", "")


def test_a_missing_ffmpeg_is_no_component(tmp_path):
    assert gen.ffmpeg_components(str(tmp_path / "no-ffmpeg")) == []


# --- the document and its summary -----------------------------------------------------------------------


def sample_document(tmp_path: Path) -> dict:
    python = gen.python_components(
        [
            FakeDistribution(fields(Name="nemo-curator", Version="1.4.0", License_Expression="Apache-2.0")),
            FakeDistribution(fields(Name="torch", Version="2.14.1", License="BSD-3-Clause")),
            FakeDistribution(fields(Name="mystery", Version="1.0")),
        ]
    )
    ffmpeg = {
        "type": "application",
        "bom-ref": "pkg:generic/ffmpeg@5.1.9",
        "name": "ffmpeg",
        "version": "5.1.9",
        "purl": "pkg:generic/ffmpeg@5.1.9",
        "licenses": [{"license": {"id": gen.ffmpeg_licence("--enable-gpl")}}],
    }
    root = image_root(tmp_path)
    components = python + gen.deb_components(root) + gen.os_component(root) + [ffmpeg]
    return gen.document(components, constants.BASE_IMAGE_NAME, "1.4.0-cpu")


def test_the_document_is_valid_cyclonedx_1_5(tmp_path):
    from cyclonedx.model.bom import Bom
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = json.dumps(sample_document(tmp_path))
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    bom = Bom.from_json(json.loads(text))
    assert {c.name for c in bom.components} >= {"nemo-curator", "torch", "zlib1g", "ffmpeg", "debian"}
    assert bom.metadata.component.name == constants.BASE_IMAGE_NAME


def test_the_summary_counts_kinds_and_names_the_stack(tmp_path):
    bom = sample_document(tmp_path)
    bom["components"].append(  # a Debian package of a name the venv has too: the Python one is named
        {"type": "library", "name": "torch", "version": "0.9", "purl": "pkg:deb/debian/torch@0.9", "bom-ref": "x"}
    )
    summary = gen.summarize(bom)
    assert summary == {
        "format": "CycloneDX",
        "spec": "1.5",
        "components": {"python": 3, "deb": 4, "other": 2},
        "unknown-licences": 4,  # mystery, libx264-164, tzdata, the extra torch; the OS is not a package
        "versions": {"nemo-curator": "1.4.0", "torch": "2.14.1", "ffmpeg": "5.1.9"},
    }
    assert "sha256" in gen.summarize(bom, "text") and "\n" not in gen.summary_line(summary)


def test_main_writes_the_document_and_prints_its_summary(tmp_path, capsys):
    target = tmp_path / "out" / "sbom.cdx.json"
    assert gen.main(["--write", str(target), "--name", "x", "--version", "1", "--ffmpeg", str(tmp_path / "none")]) == 0
    summary = json.loads(capsys.readouterr().out)
    text = target.read_text()
    assert summary["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert summary["components"]["python"] > 0  # this interpreter's own distributions
    assert json.loads(text)["metadata"]["component"] == {
        "type": "container",
        "bom-ref": "x@1",
        "name": "x",
        "version": "1",
    }
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_the_generator_needs_only_the_standard_library():
    import ast
    import sys

    tree = ast.parse(sbom_script().read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules - {"__future__"} <= set(sys.stdlib_module_names)


# --- curator-kit's side: label, notes, inspect, the recipes, the command ----------------------------------


def test_the_label_adds_where_the_document_is_and_refuses_what_is_not_cyclonedx(tmp_path):
    text = json.dumps(sample_document(tmp_path))
    label = json.loads(sbom_label(text, "x"))
    assert label["path"] == constants.SBOM_IN_IMAGE and label["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(CuratorKitError, match="is not a CycloneDX document"):
        sbom_label('{"spdxVersion": "SPDX-2.3"}', "x")
    with pytest.raises(CuratorKitError, match="is not JSON"):
        sbom_label("<bom/>", "x")


def test_inspect_shows_the_summary_line(tmp_path):
    text = json.dumps(sample_document(tmp_path))
    labels = {constants.LABEL_BASE_VARIANT: "cpu", constants.LABEL_SBOM: sbom_label(text, "x")}
    assert describe_summary(json.loads(labels[constants.LABEL_SBOM])) == (
        "CycloneDX 1.5, 8 components (3 python, 3 deb, 2 other), 3 without a known licence; "
        "nemo-curator 1.4.0, torch 2.14.1, ffmpeg 5.1.9"
    )
    line = next(line for line in describe_labels("b", labels) if line.startswith("sbom "))
    assert line == f"sbom             {sbom_text(labels)} (`curator-kit sbom` writes it)"
    assert "sbom             -" in describe_labels("q", {constants.LABEL_PROJECT: "q"})


def test_notes_for_a_replaced_document_and_a_project_images_inherited_one(tmp_path):
    bom = sample_document(tmp_path)
    text = json.dumps(bom)
    labels = {constants.LABEL_SBOM: sbom_label(text, "x")}
    assert sbom_notes("b", labels, bom, text) == []
    assert "is not the document its curator-kit.sbom label summarises" in sbom_notes("b", labels, bom, text + " ")[0]
    inherited = sbom_notes("p:latest", labels | {constants.LABEL_PROJECT: "p"}, bom, text)
    assert inherited == [
        "p:latest is a project image; this SBOM is its base image's (curator-kit/base 1.4.0-cpu): it lists none "
        "of the packages the project's build added"
    ]


@pytest.mark.parametrize("variant", available_variants())
def test_each_recipe_writes_the_sbom_after_its_check_in_one_step(variant):
    recipe = render_recipe(recipe_files(variant)[0][1])
    steps = re.split(r"\n(?=[A-Z]+ )", recipe)
    copy = next(s for s in steps if s.startswith("COPY ") and " sbom.py " in s)
    assert copy.rstrip().endswith(" /opt/curator-kit/") and constants.SBOM_SCRIPT_IN_IMAGE == "/opt/curator-kit/sbom.py"
    run = next(s for s in steps if s.startswith("RUN ") and constants.SBOM_SCRIPT_IN_IMAGE in s)
    assert f"--write {constants.SBOM_IN_IMAGE}" in run and f"--name {constants.BASE_IMAGE_NAME}" in run
    assert run.index("check-") < run.index("sbom.py") < run.index("rm -rf /tmp/*")  # after the check, in its step
    assert steps.index(run) > steps.index(copy) and "ENV HOME=" in "".join(steps[steps.index(run) :])
    assert any(name == constants.SBOM_SCRIPT for name, _path in recipe_files(variant))


@pytest.fixture
def engine(monkeypatch, tmp_path):
    """An engine with one image: labels and files by path."""
    images: dict[str, tuple[dict, dict]] = {}
    monkeypatch.setattr("curator_kit.engine.client.connect", lambda: None)

    def labels_of(_client, image):
        if image not in images:
            raise CuratorKitError(f"image {image} is not in the Docker engine", "build it")
        return images[image][0]

    monkeypatch.setattr("curator_kit.engine.images.image_labels", labels_of)
    monkeypatch.setattr("curator_kit.engine.images.read_image_file", lambda _c, image, path: images[image][1].get(path))
    return images


def test_the_sbom_command_writes_the_images_document_byte_for_byte(engine, tmp_path):
    from curator_kit.cli import main

    text = json.dumps(sample_document(tmp_path), indent=1) + "\n"
    engine["base:cpu"] = ({constants.LABEL_SBOM: sbom_label(text, "x")}, {constants.SBOM_IN_IMAGE: text})
    out = tmp_path / "sbom.json"
    result = CliRunner().invoke(main, ["sbom", "base:cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == text
    assert "wrote " in result.stderr and "CycloneDX 1.5, 8 components" in result.stderr
    printed = CliRunner().invoke(main, ["sbom", "base:cpu"])
    assert printed.stdout == text


def test_the_sbom_command_refuses_an_image_without_one(engine):
    from curator_kit.cli import main

    engine["old:cpu"] = ({constants.LABEL_BASE_VARIANT: "cpu"}, {})
    result = CliRunner().invoke(main, ["sbom", "old:cpu"])
    assert result.exit_code == 1
    assert "error: old:cpu has no SBOM (/opt/curator-kit/sbom.cdx.json is absent)" in result.stderr
    assert "curator-kit base build" in result.stderr
    missing = CliRunner().invoke(main, ["sbom", "nowhere:1"])
    assert missing.exit_code == 1 and "nowhere:1 is not in the Docker engine" in missing.stderr
