"""pytest plugins of this test suite, registered by `tests/conftest.py`."""
