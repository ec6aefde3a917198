"""The placement flow: lease rows waiting for a host, schedule them in memory, claim in
the database, allocate addresses and send the spawn (``build``); host state loading
(``hoststate``), claims (``claims``), addresses (``network``).

Both the conductor role (when it places) and the scheduler role (``service``) run it;
the scheduler package itself stays a pure in-memory engine.
"""
