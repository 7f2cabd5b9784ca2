"""Dialogue: from a `Parse` and the conversation's state to a decision and rendered replies.

`Pipeline.handle` is the answer pipeline (normalise -> understand -> decide -> respond). It holds
no storage; the conversation service persists what it returns.
"""
