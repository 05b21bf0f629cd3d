"""The PhyWorld-style ball simulator: pure functions, no Ray (SPEC §2)."""
