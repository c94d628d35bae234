"""Imitation learning in JAX: behavioral cloning, DAgger and multi-task BC on Brax tasks."""

__version__ = '0.1.0'
