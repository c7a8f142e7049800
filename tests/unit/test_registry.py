"""`push` references (pure) and the record `export kuberay` reads."""

import pytest
from curator_kit.core.build.registry import ImageRef, last_push, parse_ref, push_target
from curator_kit.errors import CuratorKitError
from curator_kit.ops.publish import record_push


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("demo", ImageRef("", "demo", "latest")),
        ("team/demo:1.0", ImageRef("", "team/demo", "1.0")),
        ("localhost/demo", ImageRef("localhost", "demo", "latest")),
        ("127.0.0.1:5000/team/demo:t", ImageRef("127.0.0.1:5000", "team/demo", "t")),
        ("registry.example.com/demo:x", ImageRef("registry.example.com", "demo", "x")),
    ],
)
def test_parse_ref(reference, parsed):
    assert parse_ref(reference) == parsed
    assert str(parsed) == (reference if ":" in reference.rsplit("/", 1)[-1] else reference + ":latest")


@pytest.mark.parametrize("reference", ["Demo", "demo:", "demo@sha256:abc", "a//b"])
def test_parse_ref_refuses(reference):
    with pytest.raises(CuratorKitError):
        parse_ref(reference)


def test_push_target():
    assert (
        str(push_target("curator-kit-test/run-it:abc", "127.0.0.1:5000"))
        == "127.0.0.1:5000/curator-kit-test/run-it:abc"
    )
    assert str(push_target("old.example.com/demo:1", "new.example.com", "2")) == "new.example.com/demo:2"
    assert str(push_target("localhost:5000/demo:1", None)) == "localhost:5000/demo:1"
    assert str(push_target("demo:1", "http://reg.local:5000/")) == "reg.local:5000/demo:1"
    with pytest.raises(CuratorKitError, match="names no registry"):
        push_target("demo:1", None)
    with pytest.raises(CuratorKitError, match="not HOST"):
        push_target("demo:1", "not a host")
    with pytest.raises(CuratorKitError, match="not a valid tag"):
        push_target("demo:1", "reg.local", "-bad")


def test_push_record(tmp_path):
    assert last_push(tmp_path) is None
    record_push(tmp_path, "reg.local/demo:1", "demo:1", "sha256:1", "reg.local/demo@sha256:2")
    record = last_push(tmp_path)
    assert record is not None and record["image"] == "reg.local/demo:1" and record["digest"].endswith("sha256:2")
    (tmp_path / ".curator-kit" / "last-push.json").write_text("[]")
    assert last_push(tmp_path) is None
