"""Training loops (DDT tokenizer, SFT): whole per-worker loops as plain functions; Ray Train wraps them."""
