"""The demo stroke registry: configuration files and a synthetic data generator."""
