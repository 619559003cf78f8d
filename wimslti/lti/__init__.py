"""The LTI 1.1 protocol: launch parameters, roles, OAuth verification, outcomes."""
