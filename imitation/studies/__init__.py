"""Experiments made of many runs (studies), built on the agents' `train` functions."""
