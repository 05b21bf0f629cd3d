"""GRPO on Ray: thin actor classes over the core (docs/method.md §6)."""
