"""Everything that speaks Bot Framework (botbuilder-python): the Teams activity handler, the
`/api/messages` endpoint and its authentication, the proactive sender, reference building and
the sorting of connector failures into delivery's kinds.

The only package a move to the Teams SDK for Python touches (with the wiring in `heatwatch/`:
`services.py`, `server.py`, `operate.py` and `components.py` build what they need from `bots`).
"""
