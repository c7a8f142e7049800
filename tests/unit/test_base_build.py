"""`base build` as it acts, with the engine replaced: reuse or rebuild by recipe, drop a dead torch index."""

import pytest
from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
from curator_kit.ops import base_build


@pytest.fixture
def engine(monkeypatch):
    """Images by tag -> labels; builds are recorded instead of run."""
    images: dict[str, dict[str, str]] = {}
    built: list[dict] = []
    monkeypatch.setattr(base_build, "image_exists", lambda _client, tag: tag in images)
    monkeypatch.setattr(base_build, "image_labels", lambda _client, tag: images[tag])
    monkeypatch.setattr(base_build, "resolve_from_image", lambda _client, plan, _explicit, _log: plan.from_image)
    monkeypatch.setattr(base_build, "index_unreachable", lambda _url: None)
    monkeypatch.setattr(base_build, "label_versions", lambda _client, tag, _progress, _log: tag)

    def build_image(_client, _context, *, tag, buildargs, progress, nocache, target=None):
        if target is None:  # the throwaway stages' own builds (tagged, target=STAGE) are not recorded
            built.append({"tag": tag, **buildargs})
        return "sha256:new"

    monkeypatch.setattr(base_build, "build_image", build_image)
    return images, built


def ensure(tag="curator-kit/base:1.4.0-cpu"):
    plan = plan_base_build(BaseBuildOptions(variant="cpu", tag=tag), None)
    messages: list[str] = []
    base_build.ensure_base(None, plan, None, messages.append)
    return plan, messages


def test_a_current_base_image_is_reused(engine):
    images, built = engine
    plan = plan_base_build(BaseBuildOptions(variant="cpu"), None)
    images[plan.tag] = {"curator-kit.base.variant": "cpu", "curator-kit.base.recipe": plan.recipe}
    _, messages = ensure()
    assert built == [] and "reused" in messages[-1]


@pytest.mark.parametrize(
    "labels",
    [
        {"curator-kit.base.variant": "cpu"},  # built before recipes were recorded: e.g. Debian's ffmpeg
        {"curator-kit.base.variant": "cpu", "curator-kit.base.recipe": "0123456789ab"},
    ],
)
def test_a_stale_base_image_is_rebuilt_under_the_same_tag(engine, labels):
    images, built = engine
    images["curator-kit/base:1.4.0-cpu"] = labels
    plan, messages = ensure()
    assert [b["tag"] for b in built] == ["curator-kit/base:1.4.0-cpu"]
    assert built[0]["RECIPE"] == plan.recipe
    assert "is stale" in messages[0]


def test_absent_is_built_and_a_foreign_image_is_left_alone(engine):
    images, built = engine
    ensure("me/absent:1")
    images["me/custom:1"] = {"maintainer": "me"}
    _, messages = ensure("me/custom:1")
    assert [b["tag"] for b in built] == ["me/absent:1"]
    assert "reused as it is" in messages[-1]


def test_a_torch_index_that_does_not_answer_is_dropped(engine, monkeypatch):
    _images, built = engine
    monkeypatch.setattr(base_build, "index_unreachable", lambda url: "does not answer (no such host)")
    plan = plan_base_build(BaseBuildOptions(variant="cpu", tag="t:1"), None)
    assert plan.build_args["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    messages: list[str] = []
    base_build.build_base(None, plan, None, messages.append)
    assert "PIP_EXTRA_INDEX_URL" not in built[0]
    assert any(
        "does not answer (no such host): torch==2.14.1 and its torchvision come from PyPI" in m for m in messages
    )


def test_index_unreachable_tells_a_refused_connection():
    # Port 9 (discard) on loopback: nothing listens in a test environment, refused at once.
    assert base_build.index_unreachable("http://127.0.0.1:9/simple", timeout=5).startswith("does not answer")


SBOM = (
    '{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ['
    '{"name": "torch", "version": "2.14.1", "purl": "pkg:pypi/torch@2.14.1",'
    ' "licenses": [{"expression": "BSD-3-Clause"}]},'
    '{"name": "zlib1g", "version": "1:1.2.13", "purl": "pkg:deb/debian/zlib1g@1:1.2.13"}]}\n'
)


def test_label_versions_records_the_base_images_codecs_and_sbom_too(monkeypatch):
    """The versions the recipe's check wrote, the codecs its probe finds (run in a container, as the
    recipe does not carry the probe) and the summary of the SBOM its last step wrote go on in one
    label-only build."""
    import hashlib
    import json

    from curator_kit.core.constants import LABEL_BASE_VERSIONS, LABEL_CODECS, LABEL_SBOM, SBOM_IN_IMAGE

    probe = '{"ffmpeg": {"version": "5.1.9", "decoders": ["h264"], "encoders": ["libopenh264"]}, "pyav": null}'
    monkeypatch.setattr(base_build, "read_image_file", lambda _client, _tag, _path: '{"torch": "2.14.1"}')
    files = {SBOM_IN_IMAGE: SBOM}  # the codecs file is absent: the probe runs
    monkeypatch.setattr("curator_kit.engine.images.read_image_file", lambda _client, _tag, path: files.get(path))
    monkeypatch.setattr("curator_kit.engine.images.run_in_image", lambda _client, _tag, command, _limits: probe + "\n")
    monkeypatch.setattr("curator_kit.ops.dockerd_limits.helper_ulimits", lambda _client: [])
    labelled: dict = {}

    def build_image(_client, _context, *, tag, labels, progress):
        labelled.update(labels)
        return "sha256:labelled"

    monkeypatch.setattr("curator_kit.engine.images.build_image", build_image)  # the label-only build's
    messages: list[str] = []
    assert base_build.label_versions(None, "base:cpu", None, messages.append) == "sha256:labelled"
    assert labelled[LABEL_BASE_VERSIONS] == '{"torch":"2.14.1"}'
    assert '"decoders":["h264"]' in labelled[LABEL_CODECS] and '"pyav":null' in labelled[LABEL_CODECS]
    assert "codecs    ffmpeg 5.1.9: decodes h264; encodes libopenh264" in messages
    assert json.loads(labelled[LABEL_SBOM]) == {
        "format": "CycloneDX",
        "spec": "1.5",
        "components": {"python": 1, "deb": 1, "other": 0},
        "unknown-licences": 1,
        "versions": {"torch": "2.14.1"},
        "sha256": hashlib.sha256(SBOM.encode()).hexdigest(),
        "path": SBOM_IN_IMAGE,
    }
    assert (
        "sbom      CycloneDX 1.5, 2 components (1 python, 1 deb, 0 other), 1 without a known licence; torch 2.14.1"
        in messages
    )


def test_a_base_image_without_its_sbom_is_refused(monkeypatch):
    """The recipe's last step writes it: an image without it did not run that step."""
    from curator_kit.errors import CuratorKitError

    monkeypatch.setattr(base_build, "read_image_file", lambda _client, _tag, _path: '{"torch": "2.14.1"}')
    monkeypatch.setattr("curator_kit.engine.images.read_image_file", lambda _client, _tag, _path: None)
    monkeypatch.setattr("curator_kit.engine.images.run_in_image", lambda _client, _tag, _command, _limits: "{}")
    monkeypatch.setattr("curator_kit.ops.dockerd_limits.helper_ulimits", lambda _client: [])
    with pytest.raises(CuratorKitError, match=r"has no /opt/curator-kit/sbom.cdx.json: its SBOM step did not run"):
        base_build.label_versions(None, "base:cpu", None, lambda _m: None)
