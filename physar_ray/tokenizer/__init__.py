"""DDT tokenizer: frames ↔ discrete tokens (docs/method.md §4). Import from the submodules."""
