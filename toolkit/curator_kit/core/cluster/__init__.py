"""Ray clusters of containers: the local cluster's plan and a driver joining a cluster."""
