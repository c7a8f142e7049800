"""Jinja's compiled templates, kept between commands under the user's cache: a scaffold command renders its
templates from the code compiled once instead of compiling them again (about half of `new-stage`'s own work).

A template's compiled code is found by everything the code depends on: Jinja's release, the environment's
syntax and options, its filters and tests (by name and by what Jinja passes them), and the template's
name and file; the file holds the source's digest and Python's byte-code magic, so a template edited
since, or another Python, compiles anew. Only an environment whose compiling runs no filter is cached
(`cacheable`): no filter's result is baked into the code, so a filter changed since is called as it now is.
Best effort throughout: a cache that cannot be read or written costs a compile, never the command.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from jinja2.bccache import Bucket

from curator_kit.core.atomicfile import write_bytes_atomically
from curator_kit.ops.usercache import user_cache_home

CACHE_FILE_MODE = 0o600  # code this user's commands execute: nobody else's to read or replace
# A finalize passed the render's context cannot run while compiling, so Jinja compiles no output to a constant.
_RUNTIME_FINALIZE = ("context", "eval_context")


def template_cache() -> TemplateCache | None:
    """The cache scaffold commands render through; None where the user has no home to keep it in."""
    try:
        return TemplateCache(user_cache_home() / "curator-kit" / "templates")
    except RuntimeError:  # Path.home(): no $HOME and no passwd entry
        return None


def _passed(function: Any) -> str:
    """What Jinja passes a filter, test or finalize besides its value (the compiled call differs)."""
    passed = getattr(function, "jinja_pass_arg", None)
    return getattr(passed, "name", "")


def cacheable(environment: jinja2.Environment) -> bool:
    """Compiling a template in `environment` runs none of its filters: Jinja's optimizer, which folds
    constant filter calls into the code, is off, and finalize (which would fold constant output) needs
    the render's context. Autoescape callables and extensions run code while compiling too."""
    finalize = environment.finalize
    return (
        not environment.optimized
        and (finalize is None or _passed(finalize) in _RUNTIME_FINALIZE)
        and isinstance(environment.autoescape, bool)
        and not environment.extensions
    )


def _compile_settings(environment: jinja2.Environment) -> tuple[Any, ...]:
    """Everything of `environment` the code compiled for a template depends on."""
    kind = type(environment)
    return (
        jinja2.__version__,
        f"{kind.__module__}.{kind.__qualname__}",
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        environment.is_async,
        environment.autoescape,
        None if environment.finalize is None else _passed(environment.finalize),
        sorted((name, _passed(function)) for name, function in environment.filters.items()),
        sorted((name, _passed(function)) for name, function in environment.tests.items()),
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TemplateCache(jinja2.BytecodeCache):
    """One file per template and environment settings in `directory`: a header (Python's byte-code magic,
    the source's digest), then the marshalled code."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get_bucket(self, environment: jinja2.Environment, name: str, filename: str | None, source: str) -> Bucket:
        # Jinja's key is the name and file alone; this one adds the environment's settings.
        key = _digest(repr((_compile_settings(environment), name, filename))) if cacheable(environment) else ""
        bucket = Bucket(environment, key, _digest(source))
        self.load_bytecode(bucket)
        return bucket

    def _file(self, bucket: Bucket) -> Path:
        return self.directory / f"{bucket.key}.jinja"

    @staticmethod
    def _header(bucket: Bucket) -> bytes:
        return MAGIC_NUMBER + bucket.checksum.encode("ascii") + b"\n"

    def load_bytecode(self, bucket: Bucket) -> None:
        if not bucket.key:
            return
        try:
            with self._file(bucket).open("rb") as stream:
                found = os.fstat(stream.fileno())
                if found.st_uid != os.getuid() or found.st_mode & 0o022:
                    return  # code someone else could have written: never run it
                data = stream.read()
        except OSError:
            return
        header = self._header(bucket)
        if not data.startswith(header):
            return  # another source, or another Python: compiled anew and written over
        try:
            code = marshal.loads(data[len(header) :])
        except (EOFError, ValueError, TypeError):
            return
        if isinstance(code, CodeType):
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if not bucket.key or bucket.code is None:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_bytes_atomically(
                self._file(bucket), self._header(bucket) + marshal.dumps(bucket.code), CACHE_FILE_MODE
            )
        except (OSError, ValueError):  # unwritable (or code marshal cannot write): the next command compiles
            pass
