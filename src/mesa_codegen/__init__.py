"""The project's SDK generator: openapi.yaml + gen.yaml -> generated parts of mesa_sdk, docs."""
