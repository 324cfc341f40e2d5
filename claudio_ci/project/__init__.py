"""The project commands: init (scaffold), demo, explain, config."""
