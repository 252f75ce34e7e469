"""The hand-written runtime every generated method calls.

Kept empty on purpose: importing a submodule must not import the others.
"""
