"""The language model that writes visual tokens: vocabulary, sequences, sampling, engines (docs/method.md §5)."""
