"""Block storage: volume lifecycle rules, quotas, backend drivers and the ``volume`` role
that does the slow work (create, delete, extend, snapshot) off the API path."""
