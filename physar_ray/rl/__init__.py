"""GRPO math: tensors in, tensors out, nothing but torch (SPEC §6)."""
