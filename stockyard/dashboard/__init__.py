"""The web dashboard: server-rendered pages that are a client of the public APIs only.

It reaches Stockyard through the Identity v3 catalog, as the ``openstack`` CLI does, keeps
each user's token server-side, and never imports the database, the services or the API
package (``tests/test_layering.py`` checks it).
"""
