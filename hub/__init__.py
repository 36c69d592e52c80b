"""The hub: link server for edges, storage, REST API and WebSockets for browsers."""
