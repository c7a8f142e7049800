from pathlib import Path

from curator_kit.ops.bootstrap import DEFAULT_MIRROR, debian_mirror, plan_bootstrap


def test_mirror_from_deb822_skips_security(tmp_path):
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert debian_mirror((tmp_path / "sources.list", sources)) == "http://mirror.example/debian"


def test_mirror_from_one_line_format(tmp_path):
    listing = tmp_path / "sources.list"
    listing.write_text("# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.example/debian bookworm main\n")
    assert debian_mirror((listing,)) == "http://ftp.example/debian"


def test_default_mirror_and_plan(tmp_path):
    assert debian_mirror((tmp_path / "missing",)) == DEFAULT_MIRROR
    plan = plan_bootstrap("bookworm", mirror="http://m/debian")
    assert plan.tag == "curator-kit/bootstrap:bookworm"
    assert plan.debootstrap_command(Path("/r")) == [
        "debootstrap",
        "--variant=minbase",
        "bookworm",
        "/r",
        "http://m/debian",
    ]
