"""Exports to other schedulers: KubeRay documents (with their CRDs and Pod Security rules) and Slurm scripts."""
