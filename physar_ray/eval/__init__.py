"""`physar eval` and `physar generate`: score videos, evaluate a policy, generate with the LM."""
