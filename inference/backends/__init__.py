"""Generation backends. Each has `generate(conversations, params) -> list[Completion]`."""
