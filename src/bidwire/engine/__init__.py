"""The engine: commands in -> domain -> store.append -> feed.publish -> sessions."""
