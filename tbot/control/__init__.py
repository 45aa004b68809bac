"""The control plane: JSON-RPC 2.0 over the engine's Unix socket.

`wire` (framing, message shapes, error codes), `client` and `socket_path` are importable
without the engine or Textual, so the console and scripts can use them on their own.
`server` is the generic server the engine fills with its methods (`methods.MethodSpec`).
"""
