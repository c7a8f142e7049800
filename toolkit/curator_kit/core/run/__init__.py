"""Running a container: the run plan, its checks against engine and host, data paths, code mounts,
logs and summaries."""
