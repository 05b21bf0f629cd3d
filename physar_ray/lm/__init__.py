"""The language model that writes visual tokens: vocabulary, sequences, sampling, engines (SPEC §5)."""
