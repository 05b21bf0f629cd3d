"""The PhyWorld-style ball simulator: pure functions, no Ray (docs/method.md §2)."""
