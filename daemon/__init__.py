"""The runtime shell: bus, clock, config, logging, feeds, API, CLI."""
