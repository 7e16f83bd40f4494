"""People who sign in: sign-in, roles and what each may do, API tokens, `flask users`."""
