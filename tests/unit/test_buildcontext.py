"""Wheelhouses and CA certificates enter a build context one way, for base and project images alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from curator_kit.core.build.buildcontext import BuildContext
from curator_kit.core.build.projectcontext import CA_CERTS_IN_CONTEXT, WHEELHOUSE_IN_CONTEXT, build_project_context
from curator_kit.core.project.loading import parse_manifest
from curator_kit.core.sizes import gib, human_size
from curator_kit.errors import CuratorKitError
from curator_kit.ops.build import project_files

# The shape update-ca-certificates reads: base64 of a DER SEQUENCE between PEM markers.
PEM = "-----BEGIN CERTIFICATE-----\nMIIBsample0certificate0body0AAAA\n-----END CERTIFICATE-----\n"


def test_wheelhouse_takes_wheels_and_archives_only(tmp_path: Path) -> None:
    for name in ("a-1-py3-none-any.whl", "b-1.tar.gz", "c-1.zip", "notes.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub.whl").mkdir()
    context = BuildContext()
    assert context.add_wheelhouse("wh", tmp_path, "--wheelhouse") == 3
    assert sorted(context.files) == ["wh/a-1-py3-none-any.whl", "wh/b-1.tar.gz", "wh/c-1.zip"]
    assert context.directories == {"wh"}
    with pytest.raises(CuratorKitError, match=r"wheelhouse .*missing \(--wheelhouse\) is not a directory"):
        context.add_wheelhouse("wh", tmp_path / "missing", "--wheelhouse")


def test_ca_certificates_are_numbered_crt_files(tmp_path: Path) -> None:
    (tmp_path / "corp.pem").write_text(PEM)
    (tmp_path / "proxy.crt").write_text(PEM)
    context = BuildContext()
    context.add_ca_certificates("ca", [(tmp_path / "corp.pem", "--ca-cert"), (tmp_path / "proxy.crt", "pip cert")])
    assert sorted(context.files) == ["ca/00-corp.crt", "ca/01-proxy.crt"]
    with pytest.raises(CuratorKitError, match=r"CA certificate .*gone\.pem \(--ca-cert\) not found"):
        context.add_ca_certificates("ca", [(tmp_path / "gone.pem", "--ca-cert")])


def test_project_context_names_the_manifest_setting(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "w-1-py3-none-any.whl").write_text("x")
    (tmp_path / "corp.pem").write_text(PEM)
    text = '[project]\nname = "p"\n[build]\nwheelhouse = "wheels"\nca_certs = ["corp.pem"]\n'
    files = project_files(tmp_path, "wheels")
    assert files == ["corp.pem"]  # the wheelhouse reaches the build once, as the wheelhouse
    context = build_project_context(tmp_path, parse_manifest(text), "FROM x\n", files, "{}")
    assert f"{WHEELHOUSE_IN_CONTEXT}/w-1-py3-none-any.whl" in context.files
    assert f"{CA_CERTS_IN_CONTEXT}/00-corp.crt" in context.files
    with pytest.raises(CuratorKitError, match=r"\(build\.ca_certs in curator-kit\.toml\) not found"):
        build_project_context(tmp_path, parse_manifest(text.replace("corp.pem", "gone.pem")), "", [], "{}")
    with pytest.raises(CuratorKitError, match=r"\(build\.wheelhouse in curator-kit\.toml\) is not a directory"):
        build_project_context(tmp_path, parse_manifest(text.replace('"wheels"', '"gone"')), "", [], "{}")


def test_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 5 * 2**20, 3 * 2**30, 2**45)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "5.0 MB",
        "3.0 GB",
        "32768.0 GB",
    ]
    assert gib(3 * 2**29) == "1.50 GiB"
