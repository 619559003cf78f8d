"""HTTP in and out: parse, call a service, render or redirect."""
