"""Everything that speaks Bot Framework: the Teams activity handler, the adapter and its auth.

This is the only package (with the sending adapter) that a move to the Teams SDK touches.
"""
