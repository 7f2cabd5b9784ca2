"""The HTTP face: FastAPI app factory, routes, auth, WebSocket, and error mapping.

Routes stay thin: parse, call the conversation service, return a schema.
"""
