"""Channel adapters: each turns the channel's updates into calls of `bot/` logic and renders
the outcomes (channel-neutral screens) its own way."""
