"""Importable test package whose package data are YAML contract fixtures."""
