"""Postroom: shared system mailboxes for organizations."""
