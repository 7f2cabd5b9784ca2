"""Real-time notifications between kefu's live clients (customers' and agents' WebSockets).

`bus.py` is the event bus: in-process (`LocalBus`) in embedded mode, Redis pub/sub (`RedisBus`)
when `KEFU_REDIS_URL` is set, so clients connected to different worker processes still hear each
other. `channels.py` names the channels. The bus only carries notifications: messages are stored
in the database first, and a subscriber that misses events (outage, slow client) is told to
`resync` and reads what it missed from the database. Nothing here writes kefu's storage.
"""
