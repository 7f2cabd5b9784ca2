"""Web pages served by kefu. Today a plain chat page for trying the bot; the embeddable widget
and the agent console come later."""
