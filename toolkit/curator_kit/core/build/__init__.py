"""Images: the project Dockerfile and its context, base-image recipes and layouts, credentials, labels, build logs."""
