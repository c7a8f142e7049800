"""The pipeline: its spec, Curator's built-in catalogue, devices and codecs, model weights, and
where its stages are placed."""
