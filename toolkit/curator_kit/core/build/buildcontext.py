"""A Docker build context assembled as data: archive name -> file on disk or bytes.

Assembling the context explicitly (instead of tarring a directory) means it holds exactly
what the Dockerfile needs, its size can be reported before sending, and tests can assert on it.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from curator_kit.core.parsers import ParseError, parse_pem_certificates
from curator_kit.errors import CuratorKitError

# What pip reads from a wheelhouse (find-links directory): wheels and source archives.
WHEEL_SUFFIXES = (".whl", ".tar.gz", ".zip")
# Stable metadata so identical inputs give identical archives and the builder's cache holds.
_FIXED_MTIME = 0


@dataclass
class BuildContext:
    files: dict[str, Path | bytes] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def add_text(self, name: str, text: str) -> None:
        self.add_bytes(name, text.encode())

    def add_file(self, name: str, source: Path) -> None:
        self.files[name] = source

    def add_directory(self, name: str) -> None:
        """An (possibly empty) directory, so `COPY name/ ...` always has a source."""
        self.directories.add(name.rstrip("/"))

    def add_wheelhouse(self, under: str, directory: Path, origin: str) -> int:
        """The wheels of `directory` as `under/NAME`; how many. `origin` names the setting, for errors."""
        if not directory.is_dir():
            raise CuratorKitError(
                f"wheelhouse {directory} ({origin}) is not a directory", f"point {origin} at a directory of wheels"
            )
        self.add_directory(under)
        wheels = [p for p in sorted(directory.iterdir()) if p.is_file() and p.name.endswith(WHEEL_SUFFIXES)]
        for wheel in wheels:
            self.add_file(f"{under}/{wheel.name}", wheel)
        return len(wheels)

    def add_ca_certificates(self, under: str, certificates: list[tuple[Path, str]]) -> None:
        """PEM files as `under/NN-STEM.crt` (update-ca-certificates reads only `.crt`, in name order).

        Each certificate comes with the setting that named it, for errors. A file that is not PEM
        certificates (a private key, DER, anything else) is refused before it joins the context."""
        self.add_directory(under)
        for index, (certificate, origin) in enumerate(certificates):
            if not certificate.is_file():
                raise CuratorKitError(
                    f"CA certificate {certificate} ({origin}) not found", f"point {origin} at an existing PEM file"
                )
            try:
                parse_pem_certificates(certificate.read_bytes())
            except ParseError as error:
                raise error.at(f"CA certificate {certificate} ({origin})") from None
            self.add_file(f"{under}/{index:02d}-{certificate.stem}.crt", certificate)

    @property
    def size_bytes(self) -> int:
        return sum(len(s) if isinstance(s, bytes) else s.stat().st_size for s in self.files.values())

    def write_tar(self) -> IO[bytes]:
        """The context as an uncompressed tar in a temporary file, rewound for reading."""
        archive = tempfile.TemporaryFile()  # noqa: SIM115 -- returned open to the caller
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name in sorted(self.directories):
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _FIXED_MTIME
                tar.addfile(info)
            for name, source in sorted(self.files.items()):
                if isinstance(source, bytes):
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = len(source), 0o644, _FIXED_MTIME
                    tar.addfile(info, io.BytesIO(source))
                else:
                    info = tar.gettarinfo(str(source), arcname=name)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    with source.open("rb") as handle:
                        tar.addfile(info, handle)
        archive.seek(0)
        return archive
