"""The protocol language: step grammar (PyBaMM experiment strings + bench steps), YAML files,
validation, and the shipped protocols in ``protocols/library``."""
