"""Custom actions and form validators of the 12349 bot (bot runtime, rasa-sdk)."""
