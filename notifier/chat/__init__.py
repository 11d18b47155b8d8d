"""Chat interaction as plain data: what people do to alerts and the chat commands."""
