"""Accounts: the custom user model and signup with a welcome email sent by a background job."""
