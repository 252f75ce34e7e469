"""Local emulator of the Mesa API, backed by real git repositories."""
