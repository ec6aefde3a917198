"""Install and clean tasks: the state machine table and the asyncio runner."""
