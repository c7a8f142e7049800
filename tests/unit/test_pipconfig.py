from pathlib import Path

from curator_kit.core.build.pipconfig import local_path, read_pip_settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_global_user_env(tmp_path):
    xdg = tmp_path / "xdg"
    write(xdg / "pip" / "pip.conf", "[global]\nfind-links = /opt/wheels\nindex-url = https://a/simple\ncert = /c.pem\n")
    home = tmp_path / "home"
    write(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nindex-url = https://b/simple\n[install]\nconstraint = /k.txt\n",
    )
    env = {"XDG_CONFIG_DIRS": str(xdg), "PIP_EXTRA_INDEX_URL": "https://x/simple file:///local/simple"}
    settings = read_pip_settings(env, home=home, prefix=tmp_path / "venv", etc=tmp_path / "etc")
    assert settings.find_links == ("/opt/wheels",)
    assert settings.index_url == "https://b/simple"  # user file beats global file
    assert settings.extra_index_urls == ("https://x/simple", "file:///local/simple")
    assert settings.cert == "/c.pem"
    assert settings.constraints == ("/k.txt",)
    assert "PIP_EXTRA_INDEX_URL" in settings.sources


def test_pip_config_file_devnull_disables_files(tmp_path):
    xdg = tmp_path / "xdg"
    write(xdg / "pip" / "pip.conf", "[global]\nfind-links = /opt/wheels\n")
    settings = read_pip_settings(
        {"XDG_CONFIG_DIRS": str(xdg), "PIP_CONFIG_FILE": "/dev/null"}, home=tmp_path, etc=tmp_path
    )
    assert settings.find_links == ()


def test_local_path():
    assert local_path("/opt/wheels") == Path("/opt/wheels")
    assert local_path("file:///opt/pypi/simple") == Path("/opt/pypi/simple")
    assert local_path("https://download.pytorch.org/whl/cpu") is None
