"""Simulators of the SaaS systems Handoff connects to (see docs/simulators.md)."""

from .cluster import SimCluster
from .http import SimCredentials

__all__ = ["SimCluster", "SimCredentials"]
