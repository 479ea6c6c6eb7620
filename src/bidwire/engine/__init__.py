"""The engine: commands in -> domain -> store.append -> bus.publish -> views -> sessions."""
