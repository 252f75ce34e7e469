"""The handlers of the contract's operations, one module per tag.

Each handler is a plain (blocking) function ``(OperationContext) -> Response`` (a Starlette
response, built with :mod:`mesa_emulator.replies`) that the server runs in a worker thread.
Request bodies are parsed with the SDK's request models and responses are built from its
response models, so both sides share one contract.
"""
