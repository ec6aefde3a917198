"""The instance lifecycle both the API and the workers use: states and the one table of
transitions and actions (``states``), leases on rows (``leases``), what users can read
about an instance (``records``: actions, events, faults, the one "fail this instance"
helper) and the bus messages built from a row (``messages``).

The API decides "409 or go" from ``states.ACTIONS``; only workers move states, always
through ``records.move``, which checks ``states.TRANSITIONS``.
"""
