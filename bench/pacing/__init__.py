"""Pacing benchmark: a discrete-event simulation of dialing days (see sim.py)."""
