"""GRPO math: tensors in, tensors out, nothing but torch (docs/method.md §6)."""
