"""Reference custom stages made with curator-kit and filled in; see README.md."""
