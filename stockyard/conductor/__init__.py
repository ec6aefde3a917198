"""The conductor: drives instances through ``states.TRANSITIONS``.

Entry point: ``stockyard.conductor.service.Conductor``. Flows are split by concern:
``build`` (schedule, claim, spawn, reschedule), ``actions`` (reboot, power, rebuild,
delete), ``reconciler`` (stuck work), ``hostsync`` (agents' reports); the database side
is in ``leases``, ``claims``, ``network`` and ``records``.
"""
