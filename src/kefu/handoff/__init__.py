"""Human handoff: agents and their status, the queue and routing, live sessions with an agent
(take over, transfer, hand back, close), satisfaction ratings and canned responses.

It sits beside `conversations` (it reads and writes conversations and their messages through
`kefu.conversations.repository`) and never imports the web layer; events for live clients go
through `kefu.realtime`'s bus.
"""
