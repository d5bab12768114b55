"""Outage scenario replay: parser, report math, CLI and an end-to-end run."""
