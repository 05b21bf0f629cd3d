"""DDT tokenizer: frames ↔ discrete tokens (SPEC §4). Import from the submodules."""
