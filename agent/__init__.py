"""chatedit's brain: planning, the LangGraph state machine, verification, sessions and interfaces."""
