"""The only place curator-kit talks to the Docker SDK.

`client` connects and translates connection errors, `images` builds, imports and pulls
images with streamed progress, `containers` runs container plans. Importing this package
imports nothing from docker; the submodules do.
"""
