"""The only I/O: the transports and their retry policy, per-event-loop state, and detection
probes. Imports :mod:`orbit_local.facts`, :mod:`orbit_local.wire` and :mod:`orbit_local.protocols`."""
