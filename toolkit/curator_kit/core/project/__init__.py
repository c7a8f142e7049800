"""The project on disk: its manifest (types, reading, validation, editing), scaffold plans,
templates, state records and names."""
