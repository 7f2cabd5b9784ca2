"""Conversations: storage models and the conversation service, the only code that writes
messages. Every customer message is stored before it is answered; the replies and the turn
event are stored together afterwards.
"""
