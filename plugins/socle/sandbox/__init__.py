"""The sandbox: a generated French municipal campaign served in the real services' shapes.

``generator.generate`` writes the outside world under ``<home>/sandbox/`` (API payloads,
open-data files, ``truth.json`` for tests) and the volunteers' CSV drops under
``<home>/inbox/``; ``server.SandboxServer`` serves the payloads over loopback HTTP.
"""
