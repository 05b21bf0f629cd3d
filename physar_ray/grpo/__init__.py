"""GRPO on Ray: thin actor classes over the core (SPEC §6)."""
