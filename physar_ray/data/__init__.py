"""Ray Data jobs over the simulator and tokenizer: generation and datasets."""
