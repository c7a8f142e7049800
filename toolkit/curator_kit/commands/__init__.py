"""click commands, one module per command or group; imported lazily by curator_kit.cli."""
