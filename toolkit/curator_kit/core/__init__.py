"""Pure logic: manifest, pipeline spec, parsers and plans. Imports neither `docker` nor the layers above."""
