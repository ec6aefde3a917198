"""The conductor: drives instances through ``lifecycle.states.TRANSITIONS``.

Entry point: ``stockyard.conductor.service.Conductor``. Flows are split by concern:
``actions`` (reboot, power, rebuild, delete), ``reconciler`` (stuck work), ``hostsync``
(agents' reports); placement (schedule, claim, spawn, reschedule) is
``stockyard.placement``, the lifecycle rules and records are ``stockyard.lifecycle``.
"""
